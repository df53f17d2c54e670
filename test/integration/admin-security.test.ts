/**
 * The admin API against web pages on the operator's machine (issue 12, "Security of the control
 * plane"), with real HTTP requests to a running admin listener: a cross-site POST (CSRF) is refused
 * and changes nothing, a DNS-rebinding Host is refused, bodies of other media types get 415, and
 * private keys are never returned unless the admin token was required and given. curl, which sends
 * no Origin, keeps working (the real curl binary is run).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type ManagedNode, startManaged } from '../helpers/admin.ts';
import { TestPki } from '../helpers/certs.ts';
import { TEST_NODE_HEADER } from '../helpers/fulcrum.ts';

const run = promisify(execFile);

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function managed(opts: { admin?: string; seedBody?: string } = {}): Promise<ManagedNode> {
  const header = TEST_NODE_HEADER.replace('admin:\n', `admin:\n${opts.admin ?? ''}`);
  const f = await startManaged({ header, ...(opts.seedBody ? { seedBody: opts.seedBody } : {}) });
  cleanup.push(() => f.stop());
  return f;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: assertions read arbitrary JSON
  json: any;
}

/** One request with exactly these headers (node:http adds Host only when it is not given). */
function send(
  f: ManagedNode,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  const port = Number(new URL(f.adminUrl).port);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => {
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const EVIL = 'http://evil.example';
const newDoc = JSON.stringify({
  _format_version: '3.0',
  services: [{ name: 'pwned', url: 'http://127.0.0.1:9' }],
});

async function configVersion(f: ManagedNode): Promise<string> {
  const r = await send(f, 'GET', '/config');
  assert.equal(r.status, 200);
  return String(r.headers['x-fulcrum-config-version']);
}

describe('admin API: cross-site requests (CSRF)', () => {
  it('POST /config from another Origin is refused with 403, and the configuration is unchanged', async () => {
    const f = await managed();
    const before = await configVersion(f);
    for (const type of ['text/plain', 'application/json', 'application/x-www-form-urlencoded']) {
      const r = await send(f, 'POST', '/config', { origin: EVIL, 'content-type': type }, newDoc);
      assert.equal(r.status, 403, `${type}: ${r.text}`);
      assert.equal(r.json.name, 'cross-origin request');
      assert.match(r.json.message, /Origin "http:\/\/evil\.example" is not this admin API's origin/);
    }
    const form = await send(
      f,
      'POST',
      '/services',
      { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' },
      'name=pwned&url=http://127.0.0.1:9',
    );
    assert.equal(form.status, 403);
    assert.equal((await send(f, 'GET', '/config', { origin: 'null' })).status, 403, 'a sandboxed page: null');
    assert.equal(await configVersion(f), before);
    assert.deepEqual((await send(f, 'GET', '/services')).json.data, []);
  });

  it('Sec-Fetch-Site: cross-site is refused without an Origin too (a navigation, an <img>)', async () => {
    const f = await managed();
    const r = await send(f, 'GET', '/config', { 'sec-fetch-site': 'cross-site' });
    assert.equal(r.status, 403);
    assert.match(r.json.message, /Sec-Fetch-Site: cross-site/);
    assert.equal((await send(f, 'GET', '/config', { 'sec-fetch-site': 'none' })).status, 200, 'typed URL');
  });

  it("the admin API's own origin is accepted, by any of its names", async () => {
    const f = await managed();
    const port = new URL(f.adminUrl).port;
    for (const name of ['127.0.0.1', 'localhost']) {
      const r = await send(
        f,
        'POST',
        '/services',
        {
          host: `${name}:${port}`,
          origin: `http://${name}:${port}`,
          'sec-fetch-site': 'same-origin',
          'content-type': 'application/json',
        },
        JSON.stringify({ name: `own-${name.replaceAll('.', '-')}`, url: 'http://127.0.0.1:9' }),
      );
      assert.equal(r.status, 201, r.text);
    }
    const cross = await send(f, 'GET', '/status', {
      host: `localhost:${port}`,
      origin: `http://127.0.0.1:${port}`,
    });
    assert.equal(cross.status, 403, 'another name of the same listener is another origin');
  });

  it('curl (no Origin) still works: -d form, JSON with -H, YAML to /config', async () => {
    const f = await managed();
    /** `curl -X POST <admin>/path args...`: the body, a newline and the status code. */
    const post = async (path: string, ...args: string[]) =>
      (await run('curl', ['-s', '-w', '\n%{http_code}', '-X', 'POST', `${f.adminUrl}${path}`, ...args]))
        .stdout;
    const json = ['-H', 'content-type: application/json'];
    assert.match(
      await post('/services', '-d', 'name=example_service', '-d', 'url=http://localhost:9001'),
      /\n201$/,
    );
    assert.match(
      await post('/services/example_service/routes', ...json, '-d', '{"name":"root","paths":["/"]}'),
      /\n201$/,
    );
    const yaml = (await run('curl', ['-s', `${f.adminUrl}/config?format=yaml`])).stdout;
    const back = await post('/config', '-H', 'content-type: application/yaml', '--data-binary', yaml);
    assert.match(back, /\n200$/);
  });
});

describe('admin API: DNS rebinding (Host)', () => {
  it('a Host that is not a name of the listener is refused with 403, reads included', async () => {
    const f = await managed();
    const port = new URL(f.adminUrl).port;
    const r = await send(f, 'GET', '/config', { host: `rebind.evil.example:${port}` });
    assert.equal(r.status, 403);
    assert.equal(r.json.name, 'forbidden host');
    assert.match(r.json.message, /Host "rebind\.evil\.example:\d+" is not a name of this admin listener/);
    assert.equal(
      (await send(f, 'POST', '/config', { host: 'evil.example', 'content-type': 'application/json' }, newDoc))
        .status,
      403,
    );
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      'localhost',
      `LOCALHOST:${port}`,
    ])
      assert.equal((await send(f, 'GET', '/status', { host })).status, 200, host);
    assert.deepEqual((await send(f, 'GET', '/services')).json.data, []);
  });

  it('admin.allowed_hosts adds names (an SSH tunnel, an /etc/hosts alias)', async () => {
    const f = await managed({ admin: '  allowed_hosts: [fulcrum-admin.internal]\n' });
    assert.equal((await send(f, 'GET', '/status', { host: 'fulcrum-admin.internal:8001' })).status, 200);
    assert.equal((await send(f, 'GET', '/status', { host: 'Fulcrum-Admin.Internal' })).status, 200);
    assert.equal((await send(f, 'GET', '/status', { host: 'other.internal' })).status, 403);
  });
});

describe('admin API: media types', () => {
  it('a body of another media type is refused with 415 before it is read; nothing changes', async () => {
    const f = await managed();
    const before = await configVersion(f);
    const cases: [string, string, Record<string, string>][] = [
      ['POST', '/config', { 'content-type': 'text/plain' }],
      ['POST', '/config', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['POST', '/config', {}],
      ['POST', '/services', { 'content-type': 'text/plain;charset=UTF-8' }],
      ['POST', '/services', { 'content-type': 'multipart/form-data; boundary=x' }],
      ['POST', '/services', { 'content-type': 'application/yaml' }],
      ['POST', '/upstreams/u/targets/t/draining', { 'content-type': 'text/plain' }],
    ];
    for (const [method, path, headers] of cases) {
      const r = await send(f, method, path, headers, path === '/config' ? newDoc : '{"name":"x"}');
      assert.equal(r.status, 415, `${method} ${path} ${JSON.stringify(headers)}: ${r.text}`);
      assert.equal(r.json.name, 'unsupported media type');
    }
    assert.match(
      (await send(f, 'POST', '/config', { 'content-type': 'text/plain' }, newDoc)).json.message,
      /send application\/json or application\/yaml/,
    );
    assert.equal(await configVersion(f), before);
    const ok = await send(
      f,
      'POST',
      '/config',
      { 'content-type': 'application/json; charset=utf-8' },
      newDoc,
    );
    assert.equal(ok.status, 200, ok.text);
  });
});

describe('admin API: private keys', () => {
  const pki = new TestPki();
  const ca = pki.ca('Test CA');
  const leaf = pki.issue(ca, 'api.example.com', { sans: ['DNS:api.example.com'] });
  const certBody = JSON.stringify({ cert: leaf.cert, key: leaf.key, snis: ['api.example.com'] });
  const jwtBody = JSON.stringify({ key: 'issuer-1', algorithm: 'HS256', secret: 'hmac-secret-value' });

  async function seed(f: ManagedNode, auth: Record<string, string>) {
    const json = { 'content-type': 'application/json', ...auth };
    const c = await send(f, 'POST', '/certificates', json, certBody);
    assert.equal(c.status, 201, c.text);
    assert.equal((await send(f, 'POST', '/consumers', json, '{"username":"alice"}')).status, 201);
    const j = await send(f, 'POST', '/consumers/alice/jwt', json, jwtBody);
    assert.equal(j.status, 201, j.text);
    return { created: c.json, jwt: j.json };
  }

  it('without a token configured, no reply carries a private key or a JWT secret', async () => {
    const f = await managed();
    const { created, jwt } = await seed(f, {});
    assert.match(created.key, /^<redacted/);
    assert.match(jwt.secret, /^<redacted/);
    const all = [
      await send(f, 'GET', '/certificates'),
      await send(f, 'GET', `/certificates/${created.id}`),
      await send(f, 'GET', '/config'),
      await send(f, 'GET', '/config?format=yaml'),
      await send(f, 'GET', '/consumers/alice/jwt'),
      await send(f, 'GET', '/consumers/alice'),
    ];
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.ok(!r.text.includes('PRIVATE KEY'), r.text.slice(0, 200));
      assert.ok(!r.text.includes('hmac-secret-value'));
    }
    assert.ok(all[0]!.text.includes('BEGIN CERTIFICATE'), 'the certificate itself is shown');
    assert.match(all[0]!.json.data[0].key, /^<redacted: the admin API has no token/);
    // The key is still there and in use: the export only hides it. Posting the export back is
    // refused, naming the fields to fill in, rather than storing the placeholder.
    const back = await send(f, 'POST', '/config', { 'content-type': 'application/json' }, all[2]!.text);
    assert.equal(back.status, 400, back.text);
    // Kong's nested `fields`: records as objects, lists as arrays.
    assert.match(back.json.fields.certificates[0].key, /redacted/);
    assert.match(back.json.fields.consumers[0].jwt_secrets[0].secret, /redacted/);
  });

  it('with a token, the token holder reads them (as from Kong)', async () => {
    const f = await managed({ admin: '  token: s3cret\n' });
    const auth = { authorization: 'Bearer s3cret' };
    const { created } = await seed(f, auth);
    assert.equal(created.key, leaf.key);
    const list = await send(f, 'GET', '/certificates', auth);
    assert.equal(list.json.data[0].key, leaf.key);
    const doc = await send(f, 'GET', '/config', auth);
    assert.equal(doc.json.certificates[0].key, leaf.key);
    assert.equal(doc.json.consumers[0].jwt_secrets[0].secret, 'hmac-secret-value');
    assert.equal((await send(f, 'GET', '/certificates')).status, 401);
  });
});
