// Memory held per idle keep-alive client connection (docs/benchmarks.md, "Idle connections").
// Starts an upstream (in this process) and Fulcrum, a bare Node pipe, nginx or HAProxy (a child
// process) on 127.0.0.1,
// opens N client connections that each make one request and stay open, and reports the proxy's
// RSS growth per connection (right after opening them, and after a full GC for a Node proxy),
// then checks that new requests are still served.
//
// Usage: node bench/memory/idle-connections.mjs [--n 10000] [--proxy fulcrum|bare-net|node-floor|nginx|haproxy]
//        [--idle SECONDS before the settled reading, default 10]
// Needs `ulimit -n` above N + a few hundred (the client holds N sockets, the proxy N more).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('n', '10000'));
const PROXY = opt('proxy', 'fulcrum');
const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'fulcrum-idle-'));

function rssKb(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(s)[1]);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The upstream: answers "ok", keeps connections.
const up = createServer((s) => {
  s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  s.on('error', () => {});
});
await new Promise((r) => up.listen(0, '127.0.0.1', r));
const upPort = up.address().port;
const port = 22000 + Math.floor(Math.random() * 1000);

// Node proxies: V8's young generation held at one size (16 MiB semi-spaces, the largest it grows to
// by default) and a full GC on SIGUSR2 (gc-on-signal.cjs) before each reading, so that RSS shows
// what live objects hold, not how far the young generation had grown or shrunk at that moment
// (that alone moves RSS by tens of megabytes); nginx and HAProxy need neither.
const GC_HOOK = [
  '--min-semi-space-size=16',
  '--max-semi-space-size=16',
  '--expose-gc',
  '--require',
  join(ROOT, 'bench/memory/gc-on-signal.cjs'),
];
const NODE_PROXY = PROXY === 'fulcrum' || PROXY === 'bare-net' || PROXY === 'node-floor';
let child;
if (PROXY === 'fulcrum') {
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(
    file,
    `_format_version: "3.0"\nlisteners:\n  - { name: proxy, address: 127.0.0.1, port: ${port} }\nadmin: { enabled: false }\nlogging: { level: warn, access_log: "off" }\ntimeouts: { keepalive_ms: 600000, client_header_ms: 600000 }\nservices:\n  - name: s\n    url: http://127.0.0.1:${upPort}\n    routes: [{ paths: ["/"] }]\n`,
  );
  child = spawn(process.execPath, [...GC_HOOK, join(ROOT, 'bin/fulcrum.js'), 'start', '-c', file], {
    stdio: 'inherit',
  });
} else if (PROXY === 'bare-net') {
  child = spawn(
    process.execPath,
    [...GC_HOOK, join(ROOT, 'bench/macro/bare-net.mjs'), String(port), String(upPort)],
    {
      stdio: 'inherit',
    },
  );
} else if (PROXY === 'node-floor') {
  child = spawn(process.execPath, [...GC_HOOK, join(ROOT, 'bench/memory/node-floor.mjs'), String(port)], {
    stdio: 'inherit',
  });
} else if (PROXY === 'nginx' || PROXY === 'haproxy') {
  const conf = join(dir, `${PROXY}.conf`);
  if (PROXY === 'nginx') {
    writeFileSync(
      conf,
      `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/err.log warn;\nevents { worker_connections ${N + 1000}; }\nhttp { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s; keepalive_timeout 600s; keepalive_requests 1000000;\nupstream u { server 127.0.0.1:${upPort}; keepalive 64; }\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`,
    );
    child = spawn('nginx', ['-p', `${dir}/`, '-c', conf, '-e', `${dir}/err.log`], { stdio: 'inherit' });
  } else {
    writeFileSync(
      conf,
      `global\n  maxconn ${N + 100}\n  fd-hard-limit 19900\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 600s\n  timeout server 600s\n  timeout http-keep-alive 600s\nfrontend fe\n  bind 127.0.0.1:${port}\n  default_backend be\nbackend be\n  server u 127.0.0.1:${upPort}\n`,
    );
    child = spawn('haproxy', ['-db', '-f', conf], { stdio: 'inherit' });
  }
}

/** One request on a new connection; resolves with the socket kept open once the answer came. */
function idleConnection() {
  return new Promise((resolveConn, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let got = '';
    const onData = (c) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\nok')) {
        s.off('data', onData);
        resolveConn(s);
      }
    };
    s.on('data', onData);
  });
}

for (let i = 0; i < 50; i++) {
  try {
    (await idleConnection()).destroy();
    break;
  } catch {
    await sleep(200);
  }
}
/** `count` requests one after another on one keep-alive connection. */
function requests(count) {
  return new Promise((resolveDone, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('error', reject);
    let left = count;
    let got = '';
    const next = () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    s.once('connect', next);
    s.on('data', (c) => {
      got += c.toString('latin1');
      if (!got.endsWith('\r\n\r\nok')) return;
      got = '';
      if (--left === 0) {
        s.destroy();
        resolveDone();
      } else next();
    });
  });
}

// A warm start: traffic first (50 connections, 20,000 requests), so that the proxy's code is
// compiled and V8's young generation has grown to its working size under load, as it would have
// in service; then a hundred idle connections, and the measurement from there.
await Promise.all(Array.from({ length: 50 }, () => requests(400)));
const sockets = [];
for (let i = 0; i < 100; i++) sockets.push(await idleConnection());
await sleep(1000);
// nginx's connections live in its worker, the master's one child.
const pid =
  PROXY === 'nginx'
    ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0])
    : child.pid;
/** RSS of the proxy, after a full GC for a Node proxy. */
async function settledRssKb() {
  if (NODE_PROXY) {
    process.kill(pid, 'SIGUSR2');
    await sleep(1000);
  }
  return rssKb(pid);
}
const before = await settledRssKb();
const t0 = Date.now();
for (let i = 0; i < N; i += 200) {
  const batch = await Promise.all(Array.from({ length: Math.min(200, N - i) }, idleConnection));
  sockets.push(...batch);
}
const openSeconds = (Date.now() - t0) / 1000;
await sleep(1000);
// Right after opening (the young generation as the burst of accepts left it), then once the
// connections have been idle a while (Fulcrum drops per-connection caches after 5 s) and a GC ran.
const opened = rssKb(pid);
await sleep(Number(opt('idle', '10')) * 1000);
const settled = await settledRssKb();
// Still serving: a fresh connection gets its answer.
const probe = await idleConnection();
probe.destroy();
const perKib = (kb) => Number(((kb - before) / N).toFixed(2));
console.log(
  JSON.stringify({
    proxy: PROXY,
    connections: N,
    rss_before_kb: before,
    rss_opened_kb: opened,
    rss_settled_kb: settled,
    kib_per_connection_settled: perKib(settled),
    kib_per_connection_opened: perKib(opened),
    open_seconds: openSeconds,
    still_serving: true,
  }),
);
for (const s of sockets) s.destroy();
child.kill('SIGTERM');
up.close();
setTimeout(() => process.exit(0), 500).unref();
