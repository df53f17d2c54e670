/**
 * The frame sequences of the HTTP/2 fuzzer (scripts/fuzz-http2.ts; docs/http2.md, "Fuzzing").
 * Sequence `i` of seed `s` is a function of (s, i) alone: a SETTINGS (valid or not), then 1 to 24
 * steps, each a valid request or an attack on the frame layer, HPACK or the request's meaning, and
 * sometimes bit flips over the bytes. Each request carries its verdict in its :path so that the
 * upstream can tell what must never reach it: `/ok/I/S` may, `/bad/I/S/why` (malformed per RFC 9113
 * §8.1.1) must not, `/part/I/S/why` may arrive as a head but must never complete (its body or
 * trailers are malformed, and a proxy that streams learns it late).
 */
import { huffmanEncode } from '../src/http2/huffman.ts';
import { hpackInt } from '../test/helpers/h2-frames.ts';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A request the client ends (END_STREAM) with a well-formed head, awaiting an answer. */
export interface Sequence {
  readonly bytes: Buffer;
  /** Steps by name, for the summary and the reproduction. */
  readonly steps: string[];
  /** Streams with a complete, valid request: each must be answered (or the connection ended). */
  readonly awaited: number[];
  /** The last frame is cut short or a block left open: the server may wait for more. */
  readonly incomplete: boolean;
  /** Frames written (junk counted as one). */
  readonly frames: number;
}

/** A small deterministic PRNG (mulberry32) seeded from (seed, index). */
export class Rng {
  private s: number;
  constructor(seed: number, index: number) {
    this.s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer,
  lieLength?: number,
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(lieLength ?? payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([h, payload]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function settingsPayload(entries: [number, number][]): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v >>> 0, i * 6 + 2);
  });
  return p;
}

function hString(r: Rng, s: string): number[] {
  if (r.chance(0.5)) {
    const h: number[] = [];
    huffmanEncode(s, h);
    return [...hpackInt(h.length, 7, 0x80), ...h];
  }
  return [...hpackInt(s.length, 7, 0), ...Buffer.from(s, 'latin1')];
}

/** One field, encoded in one of the ways a client may (static index, literal with or without indexing). */
function hField(r: Rng, name: string, value: string): number[] {
  if (name === ':method' && value === 'GET' && r.chance(0.5)) return [0x82];
  if (name === ':scheme' && value === 'http' && r.chance(0.5)) return [0x86];
  const kind = r.pick([0x00, 0x10, 0x40]);
  return kind === 0x40
    ? [0x40, ...hString(r, name), ...hString(r, value)]
    : [kind, ...hString(r, name), ...hString(r, value)];
}

/** HPACK attacks: bytes that are no valid representation (or abuse a valid one). */
function hpackAttack(r: Rng): [string, number[]] {
  switch (r.int(10)) {
    case 0:
      return ['index-0', [0x80]];
    case 1:
      return ['index-beyond', hpackInt(62 + r.int(5000), 7, 0x80)];
    case 2:
      return ['huge-int', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]];
    case 3:
      return ['size-update-mid', [0x82, ...hpackInt(r.int(5000), 5, 0x20)]];
    case 4:
      return ['size-update-big', hpackInt(4097 + r.int(1 << 20), 5, 0x20)];
    case 5:
      return ['huffman-truncated', [0x00, 0x83, 0xff, 0xff, 0xff, 0x01, 0x61]];
    case 6:
      // EOS (30 one-bits) inside a Huffman string.
      return ['huffman-eos', [0x00, 0x01, 0x61, 0x84, 0xff, 0xff, 0xff, 0xfc]];
    case 7: {
      // Padding that is not the EOS prefix ('a' is 00011, then 000 instead of 111).
      return ['huffman-bad-padding', [0x00, 0x01, 0x61, 0x81, 0x18]];
    }
    case 8:
      // Padding longer than 7 bits.
      return ['huffman-long-padding', [0x00, 0x01, 0x61, 0x82, 0x1f, 0xff]];
    default: {
      // Dynamic table abuse: many large entries with incremental indexing.
      const out: number[] = [];
      const n = 1 + r.int(40);
      for (let k = 0; k < n; k++)
        out.push(0x40, ...hString(r, `x-${k}`), ...hString(r, 'v'.repeat(r.int(3000))));
      out.push(...hpackInt(62 + r.int(60), 7, 0x80));
      return ['dynamic-table-abuse', out];
    }
  }
}

const BAD_HEADS: readonly string[] = [
  'empty-path',
  'dup-path',
  'pseudo-after-regular',
  'status-in-request',
  'connection-header',
  'uppercase-name',
  'crlf-in-value',
  'nul-in-value',
  'no-method',
  'no-scheme',
  'no-path',
  'unknown-pseudo',
  'protocol-without-connect',
  'dup-method',
  'space-in-name',
  'te-not-trailers',
  'path-not-origin',
];

/** The verdict marker a path carries: `any` (not judged) in a sequence whose bytes get bit flips. */
type Tag = (kind: string) => string;

/** A request head's fields; `bad` makes it malformed in the named way. */
function headFields(
  iter: number,
  sid: number,
  bad: string | null,
  method: string,
  tag: Tag,
): [string, string][] {
  const path = bad === null ? `/${tag('ok')}/${iter}/${sid}` : `/${tag('bad')}/${iter}/${sid}/${bad}`;
  const f: [string, string][] = [
    [':method', method],
    [':scheme', 'http'],
    [':authority', 'localhost'],
    [':path', path],
  ];
  switch (bad) {
    case 'empty-path':
      f[3] = [':path', ''];
      break;
    case 'dup-path':
      f.push([':path', `/${tag('ok')}/${iter}/${sid}`]);
      break;
    case 'pseudo-after-regular':
      f.splice(3, 0, ['x-a', '1']);
      break;
    case 'status-in-request':
      f.push([':status', '200']);
      break;
    case 'connection-header':
      f.push(['connection', 'keep-alive']);
      break;
    case 'uppercase-name':
      f.push(['X-Upper', '1']);
      break;
    case 'crlf-in-value':
      f.push(['x-a', 'a\r\nx-smuggled: 1']);
      break;
    case 'nul-in-value':
      f.push(['x-a', 'a\0b']);
      break;
    case 'no-method':
      f.splice(0, 1);
      break;
    case 'no-scheme':
      f.splice(1, 1);
      break;
    case 'no-path':
      f.splice(3, 1);
      break;
    case 'unknown-pseudo':
      f.push([':foo', 'bar']);
      break;
    case 'protocol-without-connect':
      f.push([':protocol', 'websocket']);
      break;
    case 'dup-method':
      f.splice(1, 0, [':method', 'POST']);
      break;
    case 'space-in-name':
      f.push(['x a', '1']);
      break;
    case 'te-not-trailers':
      f.push(['te', 'gzip']);
      break;
    case 'path-not-origin':
      f[3] = [':path', `bad/${iter}/${sid}`];
      break;
  }
  return f;
}

function block(r: Rng, fields: [string, string][]): Buffer {
  const out: number[] = [];
  for (const [n, v] of fields) out.push(...hField(r, n, v));
  return Buffer.from(out);
}

const SMUGGLE = Buffer.from('GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');

/** Make sequence `iter` of `seed`. */
export function generate(seed: number, iter: number): Sequence {
  const r = new Rng(seed, iter);
  // Bit flips (decided first, made last) can make a malformed request valid: nothing is judged.
  const flipped = r.chance(0.15);
  const tag: Tag = (kind) => (flipped ? 'any' : kind);
  const parts: Buffer[] = [PREFACE];
  const steps: string[] = [];
  const awaited: number[] = [];
  let incomplete = false;
  // SETTINGS: usually valid, sometimes a bad value.
  const good: [number, number][] = [[0x2, 0]];
  if (r.chance(0.3)) good.push([0x4, r.pick([0, 1, 100, 65535, 0x7fffffff])]);
  if (r.chance(0.2)) good.push([0x1, r.pick([0, 64, 4096, 0xffffffff])]);
  if (r.chance(0.1)) {
    const bad = r.pick<[string, [number, number]]>([
      ['window-too-big', [0x4, 0x80000000]],
      ['frame-size-small', [0x5, 16383]],
      ['frame-size-big', [0x5, 1 << 24]],
      ['enable-push-2', [0x2, 2]],
      ['connect-protocol-2', [0x8, 2]],
    ]);
    good.push(bad[1]);
    steps.push(`settings:${bad[0]}`);
  }
  parts.push(frame(4, 0, 0, settingsPayload(good)));
  let next = 1;
  let last = 0;
  const nSteps = 1 + r.int(24);
  // Most attacks end the connection, so some sequences are mostly valid requests: the later
  // attacks then meet a connection with history (HPACK table, windows, closed streams).
  const validShare = r.pick([0.2, 0.6, 0.9]);
  for (let k = 0; k < nSteps && !incomplete; k++) {
    const sid = next;
    const roll = r.chance(validShare) ? r.int(30) : 30 + r.int(70);
    if (roll < 30) {
      // A valid request: GET, or POST with a body (content-length right or absent), maybe trailers.
      const post = r.chance(0.4);
      const fields = headFields(iter, sid, null, post ? 'POST' : 'GET', tag);
      if (post && r.chance(0.5)) fields.push(['content-length', '5']);
      const blk = block(r, fields);
      if (!post) parts.push(frame(1, 0x5, sid, blk));
      else {
        parts.push(frame(1, 0x4, sid, blk));
        const trailers = r.chance(0.2) && fields.length === 4;
        parts.push(frame(0, trailers ? 0 : 1, sid, Buffer.from('hello')));
        if (trailers) parts.push(frame(1, 0x5, sid, block(r, [['x-trailer', '1']])));
      }
      awaited.push(sid);
      steps.push(post ? 'post' : 'get');
      last = sid;
      next += 2;
    } else if (roll < 45) {
      const why = r.pick(BAD_HEADS);
      parts.push(frame(1, 0x5, sid, block(r, headFields(iter, sid, why, 'GET', tag))));
      steps.push(`bad-head:${why}`);
      last = sid;
      next += 2;
    } else if (roll < 52) {
      // Content-length mismatch, or trailers with a pseudo-header: the head may be forwarded.
      const why = r.pick(['cl-short', 'cl-long', 'trailer-pseudo', 'cl-dup']);
      const path = `/${tag('part')}/${iter}/${sid}/${why}`;
      const f: [string, string][] = [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':authority', 'localhost'],
        [':path', path],
      ];
      if (why === 'cl-short') f.push(['content-length', '10']);
      if (why === 'cl-long') f.push(['content-length', '5']);
      if (why === 'cl-dup') f.push(['content-length', '5'], ['content-length', '6']);
      parts.push(frame(1, 0x4, sid, block(r, f)));
      if (why === 'cl-short') parts.push(frame(0, 1, sid, Buffer.from('abc')));
      else if (why === 'cl-long' || why === 'cl-dup')
        parts.push(frame(0, 1, sid, Buffer.concat([Buffer.from('hello'), SMUGGLE])));
      else {
        parts.push(frame(0, 0, sid, Buffer.from('hello')));
        parts.push(frame(1, 0x5, sid, block(r, [[':path', '/x']])));
      }
      steps.push(`part:${why}`);
      last = sid;
      next += 2;
    } else if (roll < 58) {
      const [why, bytes] = hpackAttack(r);
      parts.push(
        frame(
          1,
          0x5,
          sid,
          Buffer.concat([
            block(
              r,
              headFields(iter, sid, 'hpack', 'GET', why === 'dynamic-table-abuse' ? () => 'any' : tag),
            ),
            Buffer.from(bytes),
          ]),
        ),
      );
      steps.push(`hpack:${why}`);
      last = sid;
      next += 2;
    } else if (roll < 64) {
      // A header block left open, then junk, another stream's frame or a CONTINUATION flood.
      const why = r.pick(['junk', 'other-stream', 'flood', 'continuation-0', 'ping']);
      const blk = block(r, headFields(iter, sid, null, 'GET', tag));
      parts.push(frame(1, 0x1, sid, blk.subarray(0, 3)));
      if (why === 'junk') parts.push(Buffer.from(Array.from({ length: 1 + r.int(40) }, () => r.int(256))));
      else if (why === 'other-stream') parts.push(frame(9, 0x4, sid + 2, blk.subarray(3)));
      else if (why === 'ping') parts.push(frame(6, 0, 0, Buffer.alloc(8)));
      else if (why === 'continuation-0') parts.push(frame(9, 0x4, 0, blk.subarray(3)));
      else {
        const n = 50 + r.int(400);
        for (let c = 0; c < n; c++) parts.push(frame(9, 0, sid, Buffer.from([0x40, 0x01, 0x61, 0x01, 0x62])));
        incomplete = true;
      }
      steps.push(`open-block:${why}`);
      last = sid;
      next += 2;
      if (why === 'junk') incomplete = true;
    } else if (roll < 70) {
      const why = r.pick(['stream-0', 'conn-0', 'stream-overflow', 'conn-overflow', 'idle', 'bad-length']);
      const inc = why.endsWith('-0') ? 0 : 0x7fffffff;
      const target = why.startsWith('conn') ? 0 : why === 'idle' ? next + 40 : Math.max(last, 1);
      if (why === 'bad-length') parts.push(frame(8, 0, 0, Buffer.alloc(3, 1)));
      else {
        parts.push(frame(8, 0, target, u32(inc)));
        if (why.endsWith('overflow')) parts.push(frame(8, 0, target, u32(inc)));
      }
      steps.push(`window-update:${why}`);
    } else if (roll < 74) {
      const why = r.pick([
        'ack-payload',
        'len-7',
        'stream-1',
        'window-too-big',
        'frame-size',
        'push-2',
        'flood',
      ]);
      if (why === 'ack-payload') parts.push(frame(4, 1, 0, Buffer.alloc(6)));
      else if (why === 'len-7') parts.push(frame(4, 0, 0, Buffer.alloc(7)));
      else if (why === 'stream-1') parts.push(frame(4, 0, 1, Buffer.alloc(0)));
      else if (why === 'window-too-big') parts.push(frame(4, 0, 0, settingsPayload([[0x4, 0x80000000]])));
      else if (why === 'frame-size')
        parts.push(frame(4, 0, 0, settingsPayload([[0x5, r.pick([0, 16383, 1 << 24])]])));
      else if (why === 'push-2') parts.push(frame(4, 0, 0, settingsPayload([[0x2, 2]])));
      else for (let c = 0; c < 50 + r.int(300); c++) parts.push(frame(4, r.int(2), 0, Buffer.alloc(0)));
      steps.push(`settings:${why}`);
    } else if (roll < 78) {
      const why = r.pick(['ack', 'len-9', 'stream-1', 'flood']);
      if (why === 'ack') parts.push(frame(6, 1, 0, Buffer.alloc(8)));
      else if (why === 'len-9') parts.push(frame(6, 0, 0, Buffer.alloc(9)));
      else if (why === 'stream-1') parts.push(frame(6, 0, 1, Buffer.alloc(8)));
      else for (let c = 0; c < 50 + r.int(300); c++) parts.push(frame(6, 0, 0, Buffer.alloc(8)));
      steps.push(`ping:${why}`);
    } else if (roll < 83) {
      const why = r.pick([
        'rst-idle',
        'rst-0',
        'rst-len',
        'data-idle',
        'data-closed',
        'data-0',
        'headers-again',
        'priority-self',
      ]);
      if (why === 'rst-idle') parts.push(frame(3, 0, next + 2, u32(8)));
      else if (why === 'rst-0') parts.push(frame(3, 0, 0, u32(8)));
      else if (why === 'rst-len') parts.push(frame(3, 0, Math.max(last, 1), Buffer.alloc(5)));
      else if (why === 'data-idle') parts.push(frame(0, 1, next + 4, Buffer.from('x')));
      else if (why === 'data-closed') parts.push(frame(0, 1, Math.max(last, 1), Buffer.from('x')));
      else if (why === 'data-0') parts.push(frame(0, 1, 0, Buffer.from('x')));
      else if (why === 'priority-self') parts.push(frame(2, 0, sid, Buffer.from([0, 0, 0, sid & 0xff, 16])));
      else if (last > 0)
        parts.push(frame(1, 0x5, last, block(r, headFields(iter, last, 'again', 'GET', tag))));
      steps.push(`stream-state:${why}`);
    } else if (roll < 87) {
      // DATA beyond the stream's flow-control window (65535 by default).
      const f: [string, string][] = headFields(iter, sid, null, 'POST', tag);
      // A server that granted window as the data came may accept it all: not checked (/any/).
      f[3] = [':path', `/any/${iter}/${sid}/flow`];
      parts.push(frame(1, 0x4, sid, block(r, f)));
      for (let c = 0; c < 5; c++) parts.push(frame(0, c === 4 ? 1 : 0, sid, Buffer.alloc(16384, 0x61)));
      steps.push('data:beyond-window');
      last = sid;
      next += 2;
    } else if (roll < 92) {
      // Padding: larger than the payload, or valid.
      const why = r.pick(['headers-pad-big', 'data-pad-big', 'headers-pad-ok', 'pad-all']);
      const blk = block(r, headFields(iter, sid, why === 'headers-pad-ok' ? null : 'pad', 'GET', tag));
      if (why === 'headers-pad-ok') {
        parts.push(frame(1, 0xd, sid, Buffer.concat([Buffer.from([4]), blk, Buffer.alloc(4)])));
        awaited.push(sid);
      } else if (why === 'headers-pad-big')
        parts.push(frame(1, 0xd, sid, Buffer.concat([Buffer.from([blk.length + 2]), blk])));
      else if (why === 'pad-all')
        parts.push(frame(1, 0xd, sid, Buffer.concat([Buffer.from([blk.length]), blk])));
      else {
        const f = headFields(iter, sid, null, 'POST', tag);
        f[3] = [':path', `/${tag('part')}/${iter}/${sid}/pad`];
        parts.push(frame(1, 0x4, sid, block(r, f)));
        parts.push(frame(0, 0x9, sid, Buffer.from([10, 0x61, 0x62])));
      }
      steps.push(`padding:${why}`);
      last = sid;
      next += 2;
    } else if (roll < 96) {
      // Odd stream ids: even, lower than the last, huge, the reserved bit set.
      const why =
        last === 0
          ? r.pick(['even', 'huge', 'reserved-bit', 'zero'])
          : r.pick(['even', 'reused', 'huge', 'reserved-bit', 'zero']);
      const id =
        why === 'even'
          ? sid + 1
          : why === 'reused'
            ? Math.max(last, 1)
            : why === 'huge'
              ? 0x7fffffff
              : why === 'zero'
                ? 0
                : 0x80000000 | sid;
      parts.push(
        frame(
          1,
          0x5,
          id,
          block(
            r,
            headFields(
              iter,
              id & 0x7fffffff,
              why === 'reserved-bit' || why === 'huge' ? null : 'id',
              'GET',
              tag,
            ),
          ),
        ),
      );
      if (why === 'reserved-bit') awaited.push(sid);
      if (why === 'huge') awaited.push(id);
      steps.push(`stream-id:${why}`);
      if (why === 'huge') next = 0x7fffffff + 2;
      else if (why === 'reserved-bit') {
        last = sid;
        next += 2;
      }
    } else {
      // Random frame: any type (unknown ones included), flags, stream, length lies.
      const type = r.chance(0.5) ? r.int(256) : r.int(10);
      const payload = Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256)));
      const lie = r.chance(0.3) ? r.int(payload.length + 1) : undefined;
      const id = r.pick([0, 1, sid, last, 0x7fffffff, r.int(1 << 31)]);
      parts.push(frame(type, r.int(256), id, payload, lie));
      steps.push(`random:${type}${lie === undefined ? '' : ':lie'}`);
      if (r.chance(0.1)) {
        // A length above the payload: the server waits for the rest.
        parts.push(frame(type, 0, id, payload, payload.length + 100));
        incomplete = true;
      }
    }
    if (next > 0x7fffffff) break;
  }
  let bytes = Buffer.concat(parts);
  if (flipped) {
    // Bit flips after the preface: nothing is awaited (a flip can break any request).
    bytes = Buffer.from(bytes);
    const flips = 1 + r.int(6);
    for (let k = 0; k < flips; k++) {
      const at = PREFACE.length + r.int(bytes.length - PREFACE.length);
      bytes[at] = bytes[at]! ^ (1 << r.int(8));
    }
    steps.push(`bit-flips:${flips}`);
    return { bytes, steps, awaited: [], incomplete: true, frames: parts.length - 1 };
  }
  return { bytes, steps, awaited, incomplete, frames: parts.length - 1 };
}
