/**
 * jwt through a running proxy: HS256, RS256, PS256, ES256 and EdDSA tokens signed here with
 * node:crypto; Kong's messages for each refusal; `alg` must be the credential's; exp/nbf with leeway.
 */
import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function token(alg: string, claims: Record<string, unknown>, key: KeyObject | string): string {
  const input = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  let sig: Buffer;
  if (typeof key === 'string')
    sig = createHmac(`sha${alg.slice(2)}`, key)
      .update(input)
      .digest();
  else if (alg === 'EdDSA') sig = sign(null, Buffer.from(input), key);
  else if (alg.startsWith('PS'))
    sig = sign('sha256', Buffer.from(input), {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  else if (alg.startsWith('ES')) sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else sig = sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

const pem = (k: KeyObject) => JSON.stringify(k.export({ type: 'spki', format: 'pem' }) as string);

describe('jwt through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ed = generateKeyPairSync('ed25519');
  const nowS = () => Math.floor(Date.now() / 1000);

  before(async () => {
    a = await startUpstream('a');
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: jwt
        paths: [/jwt]
        plugins:
          - name: jwt
            config: { claims_to_verify: [exp, nbf], leeway: 60, cookie_names: [session] }
consumers:
  - username: hs
    jwt_secrets: [{ key: hs-issuer, algorithm: HS256, secret: shhh }]
  - username: rs
    jwt_secrets: [{ key: rs-issuer, algorithm: RS256, rsa_public_key: ${pem(rsa.publicKey)} }]
  - username: ps
    jwt_secrets: [{ key: ps-issuer, algorithm: PS256, rsa_public_key: ${pem(rsa.publicKey)} }]
  - username: es
    jwt_secrets: [{ key: es-issuer, algorithm: ES256, rsa_public_key: ${pem(ec.publicKey)} }]
  - username: ed
    jwt_secrets: [{ key: ed-issuer, algorithm: EdDSA, rsa_public_key: ${pem(ed.publicKey)} }]
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function get(headers: Record<string, string>, query = '') {
    const r = await request(`${f.url}/jwt${query}`, { headers });
    const text = await r.body.text();
    return {
      status: r.statusCode,
      body: text === '' ? null : JSON.parse(text.startsWith('{') ? text : '{}'),
    };
  }
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('accepts each algorithm with its consumer, from a header, the query or a cookie', async () => {
    const exp = nowS() + 300;
    const cases: [string, string, KeyObject | string][] = [
      ['hs', 'HS256', 'shhh'],
      ['rs', 'RS256', rsa.privateKey],
      ['ps', 'PS256', rsa.privateKey],
      ['es', 'ES256', ec.privateKey],
      ['ed', 'EdDSA', ed.privateKey],
    ];
    for (const [user, alg, key] of cases) {
      const r = await get(bearer(token(alg, { iss: `${user}-issuer`, exp, nbf: nowS() }, key)));
      assert.equal(r.status, 200, `${alg}: ${JSON.stringify(r.body)}`);
      assert.equal(a.seen.at(-1)!.headers['x-consumer-username'], user);
    }
    const t = token('HS256', { iss: 'hs-issuer', exp, nbf: nowS() }, 'shhh');
    assert.equal((await get({}, `?jwt=${t}`)).status, 200);
    assert.equal((await get({ cookie: `a=b; session=${t}` })).status, 200);
  });

  it("refuses with Kong's messages", async () => {
    const exp = nowS() + 300;
    const nbf = nowS();
    assert.deepEqual(await get({}), { status: 401, body: { message: 'Unauthorized' } });
    assert.deepEqual(await get(bearer('a.b.c')), {
      status: 401,
      body: { message: 'Bad token; invalid JSON' },
    });
    assert.deepEqual(await get(bearer(token('HS256', { exp, nbf }, 'shhh'))), {
      status: 401,
      body: { message: "No mandatory 'iss' in claims" },
    });
    assert.deepEqual(await get(bearer(token('HS256', { iss: 'nobody', exp, nbf }, 'shhh'))), {
      status: 401,
      body: { message: "No credentials found for given 'iss'" },
    });
    assert.deepEqual(await get(bearer(token('HS256', { iss: 'hs-issuer', exp, nbf }, 'wrong'))), {
      status: 401,
      body: { message: 'Invalid signature' },
    });
    // An RS256 credential attacked with an HMAC token keyed by the public key: the alg is refused.
    const forged = token('HS256', { iss: 'rs-issuer', exp, nbf }, JSON.parse(pem(rsa.publicKey)));
    assert.deepEqual(await get(bearer(forged)), { status: 401, body: { message: 'Invalid algorithm' } });
    const none = `${b64({ alg: 'none' })}.${b64({ iss: 'hs-issuer', exp, nbf })}.`;
    assert.deepEqual(await get(bearer(none)), { status: 401, body: { message: 'Invalid algorithm' } });
  });

  it('checks exp and nbf with the leeway', async () => {
    const t = (claims: Record<string, unknown>) =>
      bearer(token('HS256', { iss: 'hs-issuer', ...claims }, 'shhh'));
    assert.equal((await get(t({ exp: nowS() - 30, nbf: nowS() }))).status, 200, 'expired within the leeway');
    assert.deepEqual(await get(t({ exp: nowS() - 600, nbf: nowS() })), {
      status: 401,
      body: { exp: 'token expired' },
    });
    assert.deepEqual(await get(t({ exp: nowS() + 600, nbf: nowS() + 600 })), {
      status: 401,
      body: { nbf: 'token not valid yet' },
    });
    assert.deepEqual(await get(t({ nbf: nowS() })), { status: 401, body: { exp: 'must be a number' } });
  });
});
