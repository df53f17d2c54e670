/**
 * The HTTP/2 frame reader and writer of src/http2/frames.ts: frames of every type cut out of socket
 * chunks split at every byte (the payload a view of the chunk when it arrived whole), an oversized
 * frame reported before its payload is awaited, and the writer packing small frames together while
 * referencing large payloads.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { FrameReader, type FrameSink, FrameWriter } from '../../../src/http2/frames.ts';

interface Seen {
  type: number;
  flags: number;
  id: number;
  payload: string;
}

function sink(seen: Seen[], oversized: number[] = []): FrameSink {
  return {
    onFrame(type, flags, id, buf, start, end) {
      seen.push({ type, flags, id, payload: buf.subarray(start, end).toString('hex') });
      return true;
    },
    onOversizedFrame(type) {
      oversized.push(type);
    },
  };
}

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const w = new FrameWriter();
  w.frame(type, flags, id, payload);
  return Buffer.concat(w.take());
}

/** One frame of each type 0..9 and an unknown one, with payloads of the sizes each type has. */
const ALL: Seen[] = [
  { type: 0, flags: 1, id: 1, payload: Buffer.from('hello').toString('hex') },
  { type: 1, flags: 4, id: 3, payload: '8286' },
  { type: 2, flags: 0, id: 3, payload: '0000000010' },
  { type: 3, flags: 0, id: 5, payload: '00000008' },
  { type: 4, flags: 0, id: 0, payload: '000300000064' },
  { type: 4, flags: 1, id: 0, payload: '' },
  { type: 5, flags: 4, id: 1, payload: '00000002' },
  { type: 6, flags: 0, id: 0, payload: '0102030405060708' },
  { type: 7, flags: 0, id: 0, payload: '0000000700000000' },
  { type: 8, flags: 0, id: 7, payload: '00001000' },
  { type: 9, flags: 4, id: 3, payload: '84' },
  { type: 0xfa, flags: 0xff, id: 9, payload: 'ff'.repeat(300) },
];
const WIRE = Buffer.concat(ALL.map((f) => frame(f.type, f.flags, f.id, Buffer.from(f.payload, 'hex'))));

describe('HTTP/2 frame reader', () => {
  it('reads every frame type from one chunk', () => {
    const seen: Seen[] = [];
    new FrameReader().push(WIRE, sink(seen));
    assert.deepEqual(seen, ALL);
  });

  it('reads the same frames from two chunks split at every byte', () => {
    for (let at = 1; at < WIRE.length; at++) {
      const seen: Seen[] = [];
      const r = new FrameReader();
      const s = sink(seen);
      r.push(WIRE.subarray(0, at), s);
      r.push(WIRE.subarray(at), s);
      assert.deepEqual(seen, ALL, `split at ${at}`);
    }
  });

  it('reads frames fed a byte at a time', () => {
    const seen: Seen[] = [];
    const r = new FrameReader();
    const s = sink(seen);
    for (let i = 0; i < WIRE.length; i++) r.push(WIRE.subarray(i, i + 1), s);
    assert.deepEqual(seen, ALL);
  });

  it('hands a frame that arrived whole as a view of the chunk, not a copy', () => {
    const chunk = frame(0, 0, 1, Buffer.from('abc'));
    let view: Buffer | null = null;
    new FrameReader().push(chunk, {
      onFrame(_t, _f, _id, buf) {
        view = buf;
        return true;
      },
      onOversizedFrame() {},
    });
    assert.equal(view, chunk);
  });

  it('ignores the reserved bit of the stream id', () => {
    const f = frame(0, 0, 1, Buffer.from('x'));
    f[5]! |= 0x80;
    const seen: Seen[] = [];
    new FrameReader().push(f, sink(seen));
    assert.equal(seen[0]!.id, 1);
  });

  it('reports a frame over the allowed size from its header alone, and reads no further', () => {
    const seen: Seen[] = [];
    const oversized: number[] = [];
    const r = new FrameReader();
    const big = frame(0, 0, 1, Buffer.alloc(16385));
    r.push(Buffer.concat([frame(6, 0, 0, Buffer.alloc(8)), big.subarray(0, 9)]), sink(seen, oversized));
    assert.equal(seen.length, 1);
    assert.deepEqual(oversized, [0]);
  });

  it('reports an oversized frame whose header arrived split over chunks', () => {
    const oversized: number[] = [];
    const r = new FrameReader();
    const head = frame(0, 0, 1, Buffer.alloc(16385)).subarray(0, 9);
    r.push(head.subarray(0, 4), sink([], oversized));
    assert.deepEqual(oversized, []);
    r.push(head.subarray(4), sink([], oversized));
    assert.deepEqual(oversized, [0]);
  });

  it('stops when the sink says so', () => {
    let n = 0;
    new FrameReader().push(WIRE, {
      onFrame() {
        n++;
        return n < 3;
      },
      onOversizedFrame() {},
    });
    assert.equal(n, 3);
  });
});

describe('HTTP/2 frame writer', () => {
  it('packs small frames into one buffer and references large payloads', () => {
    const w = new FrameWriter();
    const big = Buffer.alloc(4000, 0x61);
    w.frame(4, 1, 0, null);
    w.frame(0, 0, 1, big);
    w.frame(0, 1, 1, Buffer.from('end'));
    const chunks = w.take();
    assert.equal(chunks.length, 3);
    assert.equal(chunks[1], big);
    const all = Buffer.concat(chunks);
    const seen: Seen[] = [];
    new FrameReader().push(all, sink(seen));
    assert.deepEqual(
      seen.map((f) => [f.type, f.flags, f.id, f.payload.length / 2]),
      [
        [4, 1, 0, 0],
        [0, 0, 1, 4000],
        [0, 1, 1, 3],
      ],
    );
    assert.deepEqual(w.take(), []);
  });

  it('never reuses bytes already taken', () => {
    const w = new FrameWriter();
    w.frame(6, 0, 0, Buffer.alloc(8, 1));
    const first = Buffer.concat(w.take()).toString('hex');
    const taken = w.take();
    assert.deepEqual(taken, []);
    w.frame(6, 0, 0, Buffer.alloc(8, 2));
    const a = w.take();
    w.frame(6, 0, 0, Buffer.alloc(8, 3));
    w.take();
    assert.equal(a[0]!.toString('hex').endsWith('02'.repeat(8)), true);
    assert.notEqual(first, a[0]!.toString('hex'));
  });
});
