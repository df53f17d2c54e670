// The floor for any Node proxy in bench/memory/idle-connections.mjs (`--proxy node-floor`): a
// net server that answers every read with a fixed response itself and holds its connections,
// which is what one idle client connection costs in Node before any proxy state.
// Usage: node bench/memory/node-floor.mjs PORT
import { createServer } from 'node:net';

const RESPONSE = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
createServer({ noDelay: true }, (s) => {
  s.on('data', () => s.write(RESPONSE));
  s.on('error', () => {});
}).listen(Number(process.argv[2]), '127.0.0.1');
