// A bare round-robin HTTP/1.1 reverse proxy on node:http + undici Pool.stream: no routing, no
// header hygiene beyond hop-by-hop removal, no logging, no metrics. The orientation point for
// "what does Node itself cost" in bench/macro/run.sh.
// Usage: node bench/macro/bare-undici.mjs PORT UPSTREAM_PORT [UPSTREAM_PORT...]
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, ...upstreamPorts] = process.argv.slice(2).map(Number);
const pools = upstreamPorts.map(
  (p) => new Pool(`http://127.0.0.1:${p}`, { connections: null, pipelining: 1 }),
);
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']);
let next = 0;

function strip(headers) {
  const out = {};
  for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
  return out;
}

const server = createServer({ noDelay: true, keepAliveTimeout: 60000 }, (req, res) => {
  const pool = pools[next];
  next = (next + 1) % pools.length;
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    {
      path: req.url,
      method: req.method,
      headers: strip(req.headers),
      body: hasBody ? req : null,
      opaque: res,
    },
    ({ statusCode, headers, opaque }) => {
      opaque.writeHead(statusCode, strip(headers));
      return opaque;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) res.writeHead(502, { 'content-length': 0 });
      res.end();
    },
  );
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
const stop = () => server.close(() => Promise.all(pools.map((p) => p.close())).then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
