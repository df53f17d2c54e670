import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

describe('service write_timeout', () => {
  let stuck: Server;
  const sockets: Socket[] = [];
  let f: TestNode;
  before(async () => {
    // A target that accepts the connection and never reads: the request body backs up.
    stuck = createServer((s) => {
      sockets.push(s);
      s.pause();
      s.on('error', () => {});
    });
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', () => r()));
    const port = (stuck.address() as { port: number }).port;
    f = await startFulcrum(`
services:
  - name: s
    url: http://127.0.0.1:${port}
    write_timeout: 400
    read_timeout: 30000
    retries: 0
    routes: [{ paths: ["/"] }]
`);
  });
  after(async () => {
    await f.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => stuck.close(() => r()));
  });

  it('answers 504 FULCRUM_ERR_UPSTREAM_TIMEOUT when the target stops reading the body', async () => {
    const chunk = Buffer.alloc(64 * 1024, 120);
    let sent = 0;
    const limit = 256 * 1024 * 1024;
    async function* body() {
      while (sent < limit) {
        sent += chunk.length;
        yield chunk;
      }
    }
    const t0 = performance.now();
    const r = await request(`${f.url}/upload`, {
      method: 'POST',
      body: Readable.from(body()),
      headers: { 'content-length': String(limit) },
    });
    const ms = performance.now() - t0;
    assert.equal(r.statusCode, 504);
    const json = (await r.body.json()) as { code: string };
    assert.equal(json.code, 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
    assert.ok(sent < limit, 'the upload was cut short');
    assert.ok(ms < 10_000, `answered in ${Math.round(ms)} ms`);
  });
});
