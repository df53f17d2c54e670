// A bare round-robin TCP proxy on node:net: accept, connect to the next upstream, pipe both ways.
// No routing, no logging, no metrics, no timeouts. The orientation point for "what does Node
// itself cost as an L4 proxy" in bench/macro/run-protocols.sh (MODES=tcp).
// Usage: node bench/macro/bare-net.mjs PORT UPSTREAM_PORT [UPSTREAM_PORT...]
import { connect, createServer } from 'node:net';

const [port, ...upstreamPorts] = process.argv.slice(2).map(Number);
let next = 0;

const server = createServer({ noDelay: true }, (client) => {
  const upstreamPort = upstreamPorts[next];
  next = (next + 1) % upstreamPorts.length;
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const stop = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', stop);
  upstream.on('error', stop);
  client.on('close', stop);
  upstream.on('close', stop);
});
server.listen({ host: '127.0.0.1', port, backlog: 4096 });
const quit = () => {
  server.close(() => process.exit(0));
  for (const s of server.connections ?? []) s.destroy();
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
