/**
 * An upstream on 127.0.0.1 that can be told to fail, for health and resilience tests. Modes:
 * `ok` (200 with its name), `status` (answer a given status, 503 by default), `hang` (accept and
 * never answer), `die` (send the head and part of the body, then drop the connection), `refuse`
 * (stop listening: connections are refused; `ok` again listens on the same port), `flap` (alternate
 * 200 and the status, request by request). Health probes (`GET /health`) are counted apart from
 * proxied requests and answered the same way. `delayMs` holds every answer back that long (so
 * that requests are in flight when the upstream is killed); a request with `x-echo: 1` gets
 * `name:body` back in `ok` mode.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'ok' | 'status' | 'hang' | 'die' | 'refuse' | 'flap';

export interface FaultyUpstream {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  /** Requests other than probes, and probes (`/health`), received so far. */
  readonly counts: { requests: number; probes: number };
  readonly mode: FaultMode;
  /** Milliseconds every answer waits (0: none). */
  delayMs: number;
  /** Requests being answered right now (delayed or hanging), and the most seen at once. */
  readonly concurrency: { now: number; peak: number };
  /** Switch behaviour; `status` is the code for `status` and `flap` (default 503). */
  set(mode: FaultMode, status?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultyUpstream(name: string, mode: FaultMode = 'ok'): Promise<FaultyUpstream> {
  let current: FaultMode = 'ok';
  let status = 503;
  let flip = false;
  const counts = { requests: 0, probes: 0 };
  const concurrency = { now: 0, peak: 0 };
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/health') counts.probes++;
    else counts.requests++;
    concurrency.now++;
    concurrency.peak = Math.max(concurrency.peak, concurrency.now);
    res.on('close', () => concurrency.now--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (delayMs > 0) setTimeout(() => answer(req, res, Buffer.concat(chunks)), delayMs);
      else answer(req, res, Buffer.concat(chunks));
    });
  };
  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    if (res.destroyed) return;
    let m = current;
    if (m === 'flap') {
      flip = !flip;
      m = flip ? 'ok' : 'status';
    }
    if (m === 'ok') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(req.headers['x-echo'] === '1' ? `${name}:${body.toString()}` : name);
    } else if (m === 'status') {
      res.writeHead(status, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(`${name} ${status}`);
    } else if (m === 'hang') hanging.add(res);
    else if (m === 'die') {
      res.writeHead(200, { 'content-length': '100', 'x-upstream': name });
      res.write('partial');
      setImmediate(() => res.socket?.destroy());
    }
  };
  const server = createServer(handle);
  server.keepAliveTimeout = 30000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const r of hanging) r.destroy();
      hanging.clear();
      for (const s of sockets) s.destroy();
      if (server.listening) server.close(() => resolve());
      else resolve();
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const u: FaultyUpstream = {
    name,
    port,
    target: `127.0.0.1:${port}`,
    counts,
    concurrency,
    get mode() {
      return current;
    },
    get delayMs() {
      return delayMs;
    },
    set delayMs(ms: number) {
      delayMs = ms;
    },
    async set(mode: FaultMode, code = 503) {
      status = code;
      if (mode === 'refuse' && server.listening) await stopListening();
      else if (mode !== 'refuse' && !server.listening) await listen(port);
      if (mode !== 'hang') {
        for (const r of hanging) r.destroy();
        hanging.clear();
      }
      current = mode;
    },
    close: stopListening,
  };
  await u.set(mode);
  return u;
}

/** Wait until `cond()` holds, checking every `stepMs`, for at most `timeoutMs`; throws with `what`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
  stepMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / stepMs) + 1; i++) {
    if (cond()) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  if (!cond()) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
