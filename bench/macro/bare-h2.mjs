// A bare round-robin HTTP/2 (h2c, prior knowledge) to HTTP/1.1 reverse proxy on the node:http2
// stream API + undici Pool.stream: no routing, no header hygiene beyond dropping pseudo-headers and
// connection-specific fields, no logging, no metrics. The orientation point for "what does Node
// itself cost" in bench/macro/run-protocols.sh (MODES=h2).
// Usage: node bench/macro/bare-h2.mjs PORT UPSTREAM_PORT [UPSTREAM_PORT...]
import { createServer } from 'node:http2';
import { Pool } from 'undici';

const [port, ...upstreamPorts] = process.argv.slice(2).map(Number);
const pools = upstreamPorts.map(
  (p) => new Pool(`http://127.0.0.1:${p}`, { connections: null, pipelining: 1 }),
);
// fields HTTP/2 forbids (RFC 9113 section 8.2.2) and the other hop-by-hop ones
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te']);
let next = 0;

function toUpstream(headers) {
  const out = {};
  for (const k in headers) if (k[0] !== ':' && !HOP.has(k)) out[k] = headers[k];
  out.host = headers[':authority'] ?? '';
  return out;
}
function toClient(statusCode, headers) {
  const out = { ':status': statusCode };
  for (const k in headers) if (!HOP.has(k)) out[k] = headers[k];
  return out;
}

const server = createServer({ settings: { maxConcurrentStreams: 128 } });
server.on('stream', (stream, headers) => {
  const pool = pools[next];
  next = (next + 1) % pools.length;
  stream.on('error', () => {});
  pool.stream(
    {
      path: headers[':path'],
      method: headers[':method'],
      headers: toUpstream(headers),
      body: stream.endAfterHeaders ? null : stream,
      opaque: stream,
    },
    ({ statusCode, headers: h, opaque }) => {
      opaque.respond(toClient(statusCode, h));
      return opaque;
    },
    (err) => {
      if (!err || stream.destroyed) return;
      if (!stream.headersSent) stream.respond({ ':status': 502, 'content-length': '0' });
      stream.end();
    },
  );
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
const stop = () => server.close(() => Promise.all(pools.map((p) => p.close())).then(() => process.exit(0)));
process.on('SIGTERM', () => {
  stop();
  setTimeout(() => process.exit(0), 1000).unref();
});
process.on('SIGINT', stop);
