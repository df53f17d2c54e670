/**
 * The pool registry (src/upstreams/pools.ts): what it imports, and that a pool another replaces
 * under its key is closed. Real pools to a real node:http target on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import type { TargetPool } from '../../../src/upstreams/pools.ts';
import { upstreamRequest } from '../../helpers/upstream-request.ts';

/** One GET through a pool: resolves with the status, or rejects with the pool's error. */
function get(pool: TargetPool): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = 0;
    pool.dispatch(upstreamRequest('GET / HTTP/1.1\r\nhost: t\r\n\r\n'), {
      onConnected() {},
      onInformational() {},
      onHead(head) {
        status = head.status;
        return true;
      },
      onUpgrade() {},
      onData: () => true,
      onEnd: () => resolve(status),
      onError: reject,
      onReadEnd() {},
    });
  });
}

describe('pools', () => {
  it("reaches into no package's internal files (undici's Pool was once loaded by path)", () => {
    for (const f of ['src/upstreams/pools.ts', 'src/upstreams/upstream-tls.ts', 'src/upstreams/h1-pool.ts']) {
      const text = readFileSync(f, 'utf8');
      assert.doesNotMatch(text, /undici\/lib\//, f);
    }
  });

  it('closes a pool that another one replaces under the same key (two builds prepared side by side)', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 0; // the target never closes an idle connection itself
    server.on('connection', (s: Socket) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    /** Service s, and with `path` a second service s2 (pools of its own: another connect timeout). */
    const snap = (path: string | null) =>
      loadSnapshotText(
        `_format_version: "3.0"
services:
  - name: s
    url: http://${at}
    routes: [{ name: r, paths: ["/"] }]
${path === null ? '' : `  - name: s2\n    url: http://${at}\n    connect_timeout: 1234\n    routes: [{ name: r2, paths: ["${path}"] }]\n`}`,
        'f.yaml',
      );
    const clock = new ManualClock(1_000_000);
    const rt = new Runtime(snap(null), {
      clock,
      rng: seededRng(1),
      logs: createLogs('silent', 'off', clock),
    });
    try {
      // Two builds from the generation in service, where s2 has no pool yet: each makes its own.
      const a = rt.prepareNow(snap('/a'));
      const b = rt.prepareNow(snap('/b'));
      const poolOf = (p: typeof a) => [...p.gen.services.get('s2')!.pools.values()][0]!;
      const [poolA, poolB] = [poolOf(a), poolOf(b)];
      assert.notEqual(poolA, poolB);
      rt.install(a);
      assert.equal(await get(poolA), 200, 'a connection of its own to the target, kept alive');
      assert.equal(sockets.length, 1);
      const idle = sockets[0]!;
      rt.install(b);
      assert.equal(rt.live.pools.size, 2, 'one pool per key');
      await assert.rejects(get(poolA), /the pool is closed/, 'the replaced pool takes no more requests');
      if (!idle.destroyed) await new Promise((resolve) => idle.once('close', resolve));
      assert.equal(await get(poolB), 200);
    } finally {
      rt.close();
      await rt.live.pools.destroyAll();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
