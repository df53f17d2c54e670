// Summarizes a V8 .cpuprofile (node --cpu-prof): self time by area (Node http/net, undici,
// logging, metrics, Fulcrum's own code, GC...), the top self-time functions, and the inclusive
// time of Fulcrum's own functions.
// Usage: node bench/macro/cpuprofile-summary.mjs FILE.cpuprofile [TOP=30]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const TOP = Number(topArg ?? 30);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// self time per node id, from the samples and their time deltas (microseconds)
const self = new Map();
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
  total += dt;
}

function area(url, name) {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'V8/native (unattributed)';
  if (url === '') return null; // a native builtin: belongs to its caller's area
  if (url.includes('/undici/')) return 'undici (upstream client)';
  if (
    url.includes('/pino') ||
    url.includes('/sonic-boom/') ||
    url.includes('fast-json-stringify') ||
    url.includes('/quick-format')
  )
    return 'logging (pino)';
  if (url.includes('/prom-client/')) return 'metrics (prom-client)';
  const m = url.match(/dist\/src\/([a-z-]+)\//);
  if (m) {
    if (m[1] === 'observability') return url.includes('access-log') ? 'logging (ours)' : 'metrics (ours)';
    return `fulcrum ${m[1]}/`;
  }
  if (url.startsWith('node:_http') || url.startsWith('node:http'))
    return 'node http (server, parser glue, outgoing)';
  if (
    url.startsWith('node:net') ||
    url.startsWith('node:internal/stream_base') ||
    url.startsWith('node:internal/net')
  )
    return 'node net/socket';
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'node streams';
  if (url.startsWith('node:events') || url.startsWith('node:internal/event')) return 'node events';
  if (
    url.startsWith('node:internal/process/task_queues') ||
    url.startsWith('node:internal/timers') ||
    url.startsWith('node:timers')
  )
    return 'node ticks/timers';
  if (url.startsWith('node:')) return 'node other';
  return 'other JS';
}

const areaOf = new Map();
function nodeArea(id) {
  if (areaOf.has(id)) return areaOf.get(id);
  const n = byId.get(id);
  let a = area(n.callFrame.url, n.callFrame.functionName);
  if (a === null) {
    const p = parent.get(id);
    a = p === undefined ? 'V8/native (unattributed)' : nodeArea(p);
  }
  areaOf.set(id, a);
  return a;
}

const short = (url) =>
  url
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/dist\/src\//, 'src/')
    .replace(/^file:\/\//, '');
const key = (n) => {
  const f = n.callFrame;
  const name = f.functionName || '(anonymous)';
  return f.url ? `${name} ${short(f.url)}:${f.lineNumber + 1}` : `${name} [native]`;
};

const areas = new Map();
const funcs = new Map();
for (const [id, t] of self) {
  const n = byId.get(id);
  const a = nodeArea(id);
  areas.set(a, (areas.get(a) ?? 0) + t);
  const k = key(n);
  const e = funcs.get(k) ?? { t: 0, a };
  e.t += t;
  funcs.set(k, e);
}

// inclusive time of our own functions (dist/src), counted once per sample even under recursion
const incl = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  const seen = new Set();
  for (let id = prof.samples[i]; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id);
    if (!n.callFrame.url.includes('/dist/src/')) continue;
    const k = key(n);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + dt);
  }
}

const busy = total - (areas.get('idle') ?? 0);
const pct = (t, of) => `${((100 * t) / of).toFixed(1)}%`;
const out = [];
out.push(
  `Profile ${short(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (not idle).`,
);
out.push('', '### Self time by area (% of busy time)', '', '| area | self ms | % busy |', '|---|--:|--:|');
for (const [a, t] of [...areas].sort((x, y) => y[1] - x[1]))
  if (a !== 'idle') out.push(`| ${a} | ${(t / 1000).toFixed(0)} | ${pct(t, busy)} |`);
out.push(
  '',
  `### Top ${TOP} functions by self time`,
  '',
  '| function | area | self ms | % busy |',
  '|---|---|--:|--:|',
);
for (const [k, e] of [...funcs]
  .filter(([, e]) => e.a !== 'idle')
  .sort((x, y) => y[1].t - x[1].t)
  .slice(0, TOP))
  out.push(`| \`${k}\` | ${e.a} | ${(e.t / 1000).toFixed(0)} | ${pct(e.t, busy)} |`);
out.push(
  '',
  '### Fulcrum functions by inclusive time (% of busy time)',
  '',
  '| function | incl ms | % busy |',
  '|---|--:|--:|',
);
for (const [k, t] of [...incl].sort((x, y) => y[1] - x[1]).slice(0, 20))
  out.push(`| \`${k}\` | ${(t / 1000).toFixed(0)} | ${pct(t, busy)} |`);
process.stdout.write(`${out.join('\n')}\n`);
