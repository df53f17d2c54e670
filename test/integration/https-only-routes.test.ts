/** Kong's https-only routes: plain HTTP gets 426 (Kong's message) or the configured redirect. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('routes with protocols: [https] reached over plain HTTP', () => {
  let up: TestUpstream;
  let f: TestNode;
  before(async () => {
    up = await startUpstream('a');
    f = await startFulcrum(`
services:
  - name: s
    url: http://${up.target}
    routes:
      - { name: secure, paths: ["/secure"], protocols: [https] }
      - { name: moved, paths: ["/moved"], protocols: [https], https_redirect_status_code: 308 }
      - { name: both, paths: ["/both"] }
`);
  });
  after(async () => {
    await f.stop();
    await up.close();
  });

  it('answers 426 with Kong’s message and Upgrade: TLS, forwarding nothing', async () => {
    const before = up.seen.length;
    const r = await request(`${f.url}/secure/x`, { headers: { host: 'api.test:8000' } });
    assert.equal(r.statusCode, 426);
    assert.deepEqual(await r.body.json(), { message: 'Please use HTTPS protocol' });
    assert.equal(r.headers.upgrade, 'TLS/1.2, HTTP/1.1');
    assert.equal(up.seen.length, before);
  });

  it('redirects with https_redirect_status_code, to the same host and target over https', async () => {
    const r = await request(`${f.url}/moved/p?q=1`, { headers: { host: 'api.test:8000' } });
    assert.equal(r.statusCode, 308);
    assert.equal(r.headers.location, 'https://api.test/moved/p?q=1');
    await r.body.text();
  });

  it('serves routes that accept http as before', async () => {
    const r = await request(`${f.url}/both`);
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'a');
  });
});
