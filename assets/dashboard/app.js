// The dashboard page's script: one EventSource on /dashboard/events. `config` events carry the
// configuration in service (sent on connect and after each reload), `stats` events the live
// figures every second (src/runtime/dashboard-view.ts says what each holds). Everything is drawn
// with DOM calls and textContent, never HTML strings: names come from the configuration.

const SPARK_POINTS = 60;
const history = [];
let config = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

function row(cells, className) {
  const tr = el('tr', null, className);
  for (const c of cells) {
    if (c instanceof Node) {
      const td = el('td');
      td.append(c);
      tr.append(td);
    } else tr.append(el('td', c ?? '–'));
  }
  return tr;
}

function fill(tableId, rows) {
  const table = $(tableId);
  if (rows.length === 0) {
    const td = el('td', 'none', 'muted');
    td.colSpan = table.tHead.rows[0].cells.length;
    const tr = el('tr');
    tr.append(td);
    rows = [tr];
  }
  table.tBodies[0].replaceChildren(...rows);
}

const list = (xs) => (xs && xs.length > 0 ? xs.join(', ') : '–');
const ms = (x) => (x === null || x === undefined ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const pct = (x) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)} %`;

function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function time(iso) {
  const d = new Date(iso);
  return d.toLocaleString();
}

function drawConfig(c) {
  config = c;
  document.querySelector('.logout').hidden = !c.login;
  fill(
    'routes',
    c.routes.map((r) =>
      row(
        [
          r.name,
          list(r.hosts),
          list(r.paths),
          list(r.methods),
          r.disabled ? `disabled: ${r.disabled}` : r.service,
        ],
        r.disabled ? 'refused' : '',
      ),
    ),
  );
  fill(
    'services',
    c.services.map((s) =>
      row([
        s.enabled ? s.name : `${s.name} (disabled)`,
        s.protocol,
        `${s.host}:${s.port}`,
        s.path,
        s.upstream,
      ]),
    ),
  );
  fill(
    'certificates',
    c.certificates.map((x) => {
      const left = el('span', `${x.not_after.slice(0, 10)} (${x.days_left} days)`);
      if (x.days_left < 3) left.className = 'expiry-critical';
      else if (x.days_left < 14) left.className = 'expiry-soon';
      const names = list(x.snis.length > 0 ? x.snis : x.names);
      return row([x.listener, x.subject, x.default ? `${names} (default)` : names, left]);
    }),
  );
}

function badge(text, kind) {
  return el('span', text, `badge ${kind}`);
}

function drawUpstreams(upstreams) {
  const box = $('upstreams');
  const cards = [];
  const specs = new Map((config?.upstreams ?? []).map((u) => [u.name, u]));
  for (const u of upstreams) {
    const card = el('div', null, 'upstream');
    card.dataset.upstream = u.name;
    const title = el('h3', u.name);
    const spec = specs.get(u.name);
    if (spec) {
      const checks = [spec.active_checks ? 'active' : '', spec.passive_checks ? 'passive' : ''].filter(
        Boolean,
      );
      const about = [
        spec.algorithm,
        checks.length > 0 ? `${checks.join(' + ')} health checks` : 'no health checks',
      ];
      if (spec.slow_start_ms > 0) about.push(`slow start ${spec.slow_start_ms / 1000} s`);
      if (spec.implicit) about.unshift('service host, no upstream object');
      title.append(el('span', about.join(' · '), 'muted'));
    }
    if (u.panic) title.append(badge('panic: every target takes traffic', 'bad'));
    card.append(title);
    const table = el('table');
    const head = el('tr');
    for (const h of [
      'target',
      'health',
      'weight in effect',
      'in flight',
      'req/s',
      'errors',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'ejections',
    ])
      head.append(el('th', h, h === 'target' || h === 'health' ? '' : 'num'));
    table.append(el('thead'));
    table.tHead.append(head);
    const body = el('tbody');
    for (const t of u.targets) {
      const health = el('span', t.health, `badge health-${t.health}`);
      const weight = t.ramping
        ? `${t.effective_weight} / ${t.weight} (slow start)`
        : t.takes_traffic
          ? `${t.effective_weight} / ${t.weight}`
          : `0 / ${t.weight}`;
      const tr = row([
        t.target,
        health,
        weight,
        t.in_flight,
        t.rps.toFixed(1),
        pct(t.error_rate),
        ms(t.p50_ms),
        ms(t.p90_ms),
        ms(t.p99_ms),
        t.ejections,
      ]);
      tr.dataset.target = `${u.name}/${t.target}`;
      tr.dataset.health = t.health;
      for (let i = 2; i < tr.cells.length; i++) tr.cells[i].className = 'num';
      body.append(tr);
    }
    table.append(body);
    card.append(table);
    cards.push(card);
  }
  box.replaceChildren(...cards);
}

function drawSpark() {
  const svg = $('spark');
  const max = Math.max(1, ...history);
  const step = 120 / (SPARK_POINTS - 1);
  const start = SPARK_POINTS - history.length;
  const points = history.map(
    (v, i) => `${((start + i) * step).toFixed(1)},${(29 - (v / max) * 27).toFixed(1)}`,
  );
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.replaceChildren(line);
}

function drawStats(s) {
  $('version').textContent = `v${s.version}`;
  const ready = $('ready');
  ready.textContent = s.ready ? 'ready' : s.readiness;
  ready.className = `badge ${s.ready ? 'ok' : 'warn'}`;
  $('rps').textContent = s.rps.toFixed(1);
  $('errors').textContent = pct(s.error_rate);
  $('inflight').textContent = s.in_flight;
  $('connections').textContent = s.connections;
  $('generation').textContent = s.generation;
  $('uptime').textContent = duration(s.uptime_s);
  history.push(s.rps);
  if (history.length > SPARK_POINTS) history.shift();
  drawSpark();
  drawUpstreams(s.upstreams);
  fill(
    'listeners',
    s.listeners.map((l) => row([l.name, l.protocol, `${l.address}:${l.port}`, l.open])),
  );
  fill(
    'generations',
    s.generations
      .slice()
      .reverse()
      .map((g) => row([g.id, time(g.at), g.changed ? g.hash : `${g.hash} (unchanged)`, g.source])),
  );
  fill(
    'audit',
    s.audit
      .slice()
      .reverse()
      .map((a) =>
        row(
          [
            time(a.time),
            a.token ? `${a.who} (token)` : a.who,
            `${a.method} ${a.path}`,
            `${a.before} → ${a.after}`,
            a.result,
          ],
          a.result === 'refused' ? 'refused' : '',
        ),
      ),
  );
}

function connect() {
  const live = $('live');
  const source = new EventSource('/dashboard/events');
  source.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'badge ok';
  });
  source.addEventListener('error', () => {
    // The browser reconnects by itself (the stream's `retry`); a 401 after a token change does not.
    live.textContent = 'reconnecting';
    live.className = 'badge warn';
  });
  source.addEventListener('config', (e) => drawConfig(JSON.parse(e.data)));
  source.addEventListener('stats', (e) => drawStats(JSON.parse(e.data)));
}

connect();
