/**
 * `_transform: false` (a `kong config db_export` or decK dump): basic-auth passwords are Kong's
 * stored form, hex SHA-1 of the password followed by the consumer id, and are kept as given. The
 * user types the cleartext; the hash itself must not log in (it did when the hash was taken for a
 * cleartext password and hashed again: whoever read the dump could use it).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const CONSUMER_ID = '4e8e7d8b-2c3a-4f4e-9a61-4b1f8e6c1d01';
const HASH = createHash('sha1').update(`open-sesame${CONSUMER_ID}`).digest('hex');

function file(upstream: string, transform: string): string {
  return `${transform}
services:
  - name: api
    url: http://${upstream}
    routes:
      - name: basic
        paths: [/basic]
        plugins:
          - name: basic-auth
consumers:
  - id: ${CONSUMER_ID}
    username: aladdin
    basicauth_credentials:
      - username: aladdin
        password: ${HASH}
`;
}

describe('basic-auth passwords of a dump (_transform: false)', () => {
  let a: TestUpstream;
  let f: TestNode;
  before(async () => {
    a = await startUpstream('a');
    f = await startFulcrum(file(a.target, '_transform: false'));
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });
  const status = async (auth: string) =>
    (await request(`${f.url}/basic`, { headers: { authorization: auth } })).statusCode;

  it('the cleartext password logs in', async () => {
    assert.equal(await status(basic('aladdin', 'open-sesame')), 200);
  });

  it('the stored hash itself does not log in', async () => {
    assert.equal(await status(basic('aladdin', HASH)), 401);
  });

  it('with _transform: true (the default) the same field is a cleartext password, hashed on load', async () => {
    f.write(file(a.target, '_transform: true'));
    await f.node.reload();
    assert.equal(await status(basic('aladdin', HASH)), 200);
    assert.equal(await status(basic('aladdin', 'open-sesame')), 401);
    f.write(file(a.target, '_transform: false'));
    await f.node.reload();
    assert.equal(await status(basic('aladdin', 'open-sesame')), 200);
  });
});
