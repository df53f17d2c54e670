/**
 * jwt keys from a credential's jwks_uri, served by a local node:http server, through a running
 * proxy with a hand-driven clock: the first fetch, key rotation (an unknown kid refetches, paced by
 * jwks_refresh_interval), the JWKS server down (cached keys still used past the ttl, up to
 * jwks_max_stale), then 401 once they expired with nothing cached, and recovery.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ManualClock } from '../../../src/core/clock.ts';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function token(kid: string | null, key: KeyObject): string {
  const head = kid === null ? { alg: 'RS256', typ: 'JWT' } : { alg: 'RS256', typ: 'JWT', kid };
  const input = `${b64(head)}.${b64({ iss: 'issuer-a', sub: 'u1' })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function jwk(kid: string, k: KeyObject): Record<string, unknown> {
  return { ...(k.export({ format: 'jwk' }) as Record<string, unknown>), kid, use: 'sig', alg: 'RS256' };
}

describe('jwt keys from a JWKS URL', () => {
  let a: TestUpstream;
  let f: TestNode;
  let jwks: Server;
  const clock = new ManualClock(1_000_000);
  const k1 = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const k2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let served: Record<string, unknown>[] = [jwk('k1', k1.publicKey)];
  let down = false;
  let fetches = 0;

  before(async () => {
    jwks = createServer((req, res) => {
      fetches++;
      if (down) return void req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as AddressInfo).port;
    a = await startUpstream('a');
    f = await startFulcrum(
      `
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: r
        paths: [/]
        plugins:
          - name: jwt
            config:
              jwks_cache_ttl: 60
              jwks_max_stale: 120
              jwks_refresh_interval: 5
              jwks_timeout: 2000
consumers:
  - username: alice
    jwt_secrets:
      - key: issuer-a
        algorithm: RS256
        jwks_uri: http://127.0.0.1:${port}/jwks
`,
      { clock },
    );
  });
  after(async () => {
    await f?.stop();
    await a?.close();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  async function call(t: string) {
    const r = await request(f.url, { headers: { authorization: `Bearer ${t}` } });
    return { status: r.statusCode, body: await r.body.text() };
  }

  it('verifies a token with a key from the set, fetched once', async () => {
    const r = await call(token('k1', k1.privateKey));
    assert.equal(r.status, 200, r.body);
    assert.equal(a.seen.at(-1)!.headers['x-consumer-username'], 'alice');
    const n = fetches;
    assert.ok(n >= 1 && n <= 2, `fetched ${n} times`);
    assert.equal((await call(token('k1', k1.privateKey))).status, 200);
    assert.equal(fetches, n, 'answered from the cache');
    // A token without kid: the set's single key.
    assert.equal((await call(token(null, k1.privateKey))).status, 200);
  });

  it('refuses a token signed by another key', async () => {
    const r = await call(token('k1', k2.privateKey));
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.body), { message: 'Invalid signature' });
  });

  it('refetches on an unknown kid (key rotation), paced by jwks_refresh_interval', async () => {
    served = [jwk('k1', k1.publicKey), jwk('k2', k2.publicKey)];
    const n = fetches;
    // Within the interval of the last fetch: no new fetch, the kid stays unknown.
    const early = await call(token('k2', k2.privateKey));
    assert.equal(early.status, 401);
    assert.deepEqual(JSON.parse(early.body), { message: 'No key found for the token' });
    assert.equal(fetches, n);
    clock.advance(5000);
    assert.equal((await call(token('k2', k2.privateKey))).status, 200);
    assert.equal(fetches, n + 1);
    assert.equal((await call(token('k1', k1.privateKey))).status, 200);
    assert.equal(fetches, n + 1);
  });

  it('keeps using cached keys while the JWKS server is down, until they expire', async () => {
    down = true;
    const n = fetches;
    clock.advance(61_000); // past the ttl: stale, refreshed behind the answer
    assert.equal((await call(token('k2', k2.privateKey))).status, 200);
    await until(() => fetches === n + 1);
    clock.advance(100_000); // still within ttl + max_stale of the last good fetch
    assert.equal((await call(token('k1', k1.privateKey))).status, 200);
    clock.advance(30_000); // past ttl + max_stale: the keys are gone, the fetch fails
    const r = await call(token('k1', k1.privateKey));
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.body), { message: 'No key found for the token' });
  });

  it('recovers once the JWKS server answers again', async () => {
    down = false;
    clock.advance(5000);
    assert.equal((await call(token('k1', k1.privateKey))).status, 200);
  });
});

/** Wait for a condition that a background fetch makes true (bounded: 200 turns of 5 ms). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met in time');
}
