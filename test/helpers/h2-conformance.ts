/**
 * Checks for the HTTP/2 conformance tests (test/integration/http2-conformance*.test.ts), on the
 * raw frames of test/helpers/h2-frames.ts: a handshake, and what a case expects of the server
 * afterwards (a connection error with its code, a stream error with its code, a connection that is
 * still alive), each stated as RFC 9113 states it.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startFulcrum, type TestNode } from './fulcrum.ts';
import { FLAG, FRAME, frame, hpack, RawH2, requestBlock } from './h2-frames.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

/** An h2c listener on the own codec, with a low stream limit (5.1.2). */
export const CONFORMANCE_HEADER = `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
    http2:
      codec: fulcrum
      max_concurrent_streams: 4
admin:
  address: 127.0.0.1
  port: 0
`;

/** Connect, exchange SETTINGS both ways (ours acknowledged, the server's acknowledged by us). */
export async function handshake(port: number): Promise<RawH2> {
  const c = await RawH2.open(port);
  await c.until(() => c.serverSettings() !== null, 3000, 'the server SETTINGS');
  c.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  await c.until(
    () => c.frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0),
    3000,
    'a SETTINGS ACK',
  );
  return c;
}

/** RFC 9113 §5.4.1: GOAWAY with `code`, then the connection closes. */
export async function connectionError(c: RawH2, code: number): Promise<void> {
  await c.until(() => c.goaway() !== null || c.closed, 3000, `GOAWAY(${code})`);
  const g = c.goaway();
  assert.notEqual(g, null, 'a GOAWAY before the close');
  assert.equal(g!.code, code, `GOAWAY code ${g!.code}, expected ${code}`);
  await c.until(() => c.closed, 3000, 'the connection to close after GOAWAY');
}

/** RFC 9113 §5.4.2: RST_STREAM on `id` with `code`; the connection carries on. */
export async function streamError(c: RawH2, id: number, code: number): Promise<void> {
  const rst = () => c.frames.find((f) => f.type === FRAME.RST_STREAM && f.streamId === id);
  await c.until(
    () => rst() !== undefined || c.goaway() !== null || c.closed,
    3000,
    `RST_STREAM(${code}) on ${id}`,
  );
  assert.equal(c.goaway(), null, `a stream error, not GOAWAY ${JSON.stringify(c.goaway())}`);
  const r = rst();
  assert.ok(r !== undefined, 'an RST_STREAM');
  assert.equal(
    r.payload.readUInt32BE(0),
    code,
    `RST_STREAM code ${r.payload.readUInt32BE(0)}, expected ${code}`,
  );
  await alive(c);
}

let pingSeq = 1000;

/** The connection still answers: a PING is acknowledged with its payload, and no GOAWAY came. */
export async function alive(c: RawH2): Promise<void> {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(++pingSeq, 4);
  c.write(frame(FRAME.PING, 0, 0, p));
  await c.until(
    () =>
      c.closed ||
      c.frames.some((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.equals(p)),
    3000,
    'a PING ACK',
  );
  assert.equal(c.closed, false, 'the connection is open');
  assert.equal(c.goaway(), null, 'no GOAWAY');
}

/** Whether stream `id` was answered with a response HEADERS. */
export function answered(c: RawH2, id: number): boolean {
  return c.frames.some((f) => f.type === FRAME.HEADERS && f.streamId === id);
}

/** Wait for a response HEADERS on `id`. */
export async function response(c: RawH2, id: number): Promise<void> {
  await c.until(() => answered(c, id) || c.closed, 3000, `a response on stream ${id}`);
  assert.ok(answered(c, id), `stream ${id} answered`);
}

/** A HEADERS frame of a GET request (END_HEADERS, END_STREAM unless told). */
export function get(id: number, path = '/', flags = FLAG.END_HEADERS | FLAG.END_STREAM): Buffer {
  return frame(FRAME.HEADERS, flags, id, requestBlock(path));
}

/** A HEADERS frame with exactly these fields, in order. */
export function headersOf(
  id: number,
  fields: [string, string][],
  flags = FLAG.END_HEADERS | FLAG.END_STREAM,
): Buffer {
  return frame(FRAME.HEADERS, flags, id, hpack(fields));
}

/** The pseudo-headers of a valid GET. */
export const GET_FIELDS: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'localhost'],
];

/** One conformance case, run on a fresh handshaken connection. */
export type Case = [name: string, run: (c: RawH2) => Promise<void>];

/** The node and target a conformance suite runs against (set in its `before`). */
export interface Bench {
  up: TestUpstream;
  f: TestNode;
}

/**
 * Inside a describe(): start a target (`/slow` answers after 400 ms, so that its stream is still
 * open while a case goes on) and a node on the own codec before the cases, one `it` per case.
 */
export function conformanceCases(cases: readonly Case[]): Bench {
  const bench = {} as Bench;
  before(async () => {
    bench.up = await startUpstream('up', (req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow'), 400);
      else res.end('ok');
    });
    bench.f = await startFulcrum(
      `services:\n  - name: s\n    url: http://${bench.up.target}\n    routes:\n      - paths: ["/"]\n`,
      { header: CONFORMANCE_HEADER },
    );
  });
  after(async () => {
    await bench.f.stop();
    await bench.up.close();
  });
  for (const [name, run] of cases) {
    it(name, async () => {
      const c = await handshake(bench.f.port);
      try {
        await run(c);
      } finally {
        c.destroy();
      }
    });
  }
  return bench;
}
