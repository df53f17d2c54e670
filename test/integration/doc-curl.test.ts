/**
 * The curl examples of docs/plugins.md and docs/admin.md, run as written with the real curl
 * binary (in bash, so their quoting is the reader's) against a managed node: every admin request
 * (to :8001) must succeed (a status below 400), and every proxy request (to :8000) must get an
 * answer. `localhost:8001`/`:8000` are the node's ports, `localhost:9001`/`:9002` two test
 * upstreams; the objects a plugin example names (`/services/api/...`) are created first when the
 * page has not created them. The node has an admin token, which the curl wrapper sends, as the
 * docs say to when one is set; jq reads the PEM files named by the certificate examples.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { admin, type ManagedNode, startManaged } from '../helpers/admin.ts';
import { TestPki } from '../helpers/certs.ts';
import { REPO_ROOT } from '../helpers/child.ts';
import { docCommands } from '../helpers/curl-docs.ts';
import { testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const run = promisify(execFile);
const TOKEN = 'doc-examples-token';
const PAGES = ['docs/plugins.md', 'docs/admin.md'];

describe('the curl examples of the docs, run with curl', () => {
  let m: ManagedNode;
  let a: TestUpstream;
  let b: TestUpstream;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    m = await startManaged({ header: testHeader({ admin: `  token: ${TOKEN}\n` }) });
    const pki = new TestPki();
    const ca = pki.ca('Docs CA');
    const leaf = pki.issue(ca, 'api.example.com', { sans: ['DNS:api.example.com', 'DNS:*.api.example.com'] });
    writeFileSync(join(m.dir, 'api.pem'), leaf.cert);
    writeFileSync(join(m.dir, 'api.key'), leaf.key);
    writeFileSync(join(m.dir, 'internal-ca.pem'), ca.cert);
  });
  after(async () => {
    await m?.stop();
    await a?.close();
    await b?.close();
  });

  const adminPort = () => new URL(m.adminUrl).port;
  const proxyPort = () => new URL(m.url).port;

  /** Create the service, route or consumer an example's URL names, unless it exists. */
  async function ensure(cmd: string): Promise<void> {
    const opts = { token: TOKEN };
    // A service a plugin's JSON config names (traffic-split's rules) is created like one in a URL.
    const named = [...cmd.matchAll(/"service": "([\w.-]+)"/g)].map((x) => ['', 'services', x[1]!]);
    for (const [, kind, name] of [
      ...cmd.matchAll(/:8001\/(services|routes|consumers)\/([\w.-]+)\//g),
      ...named,
    ]) {
      if ((await admin(m.adminUrl, 'GET', `/${kind}/${name}`, undefined, opts)).status === 200) continue;
      if (kind === 'consumers') await admin(m.adminUrl, 'POST', '/consumers', { username: name }, opts);
      if (kind === 'services')
        await admin(m.adminUrl, 'POST', '/services', { name, url: `http://${a.target}` }, opts);
      if (kind === 'routes') {
        await admin(m.adminUrl, 'PUT', '/services/docs-svc', { url: `http://${a.target}` }, opts);
        await admin(m.adminUrl, 'POST', '/services/docs-svc/routes', { name, paths: [`/${name}`] }, opts);
      }
    }
  }

  for (const page of PAGES) {
    it(`${page}: every curl example works`, async () => {
      const cmds = docCommands(readFileSync(join(REPO_ROOT, page), 'utf8')).filter((c) =>
        /\bcurl\b/.test(c.text),
      );
      assert.ok(cmds.length >= 10, `${page} has curl examples`);
      const failures: string[] = [];
      for (const c of cmds) {
        const text = c.text
          .replaceAll('localhost:8001', `127.0.0.1:${adminPort()}`)
          .replaceAll('localhost:8000', `127.0.0.1:${proxyPort()}`)
          .replaceAll('localhost:9001', a.target)
          .replaceAll('localhost:9002', b.target);
        await ensure(c.text.replaceAll('localhost:8001', ':8001'));
        // curl as the reader runs it, plus the token and a status line on stderr for each request.
        const script = `curl() { command curl -sS -H 'Authorization: Bearer ${TOKEN}' -w '%{stderr}status=%{http_code} %{url_effective}\\n' "$@"; }\n${text}\n`;
        let stderr = '';
        try {
          const r = await run('bash', ['-c', script], {
            cwd: m.dir,
            env: { ...process.env, TOKEN: 'not.a.jwt' },
            maxBuffer: 64 * 1024 * 1024,
          });
          stderr = r.stderr;
        } catch (err) {
          stderr = (err as { stderr?: string }).stderr ?? String(err);
        }
        const statuses = [...stderr.matchAll(/status=(\d+) (\S+)/g)];
        const bad = statuses.filter(([, s, url]) =>
          url!.includes(`:${adminPort()}`) ? Number(s) >= 400 : s === '000',
        );
        if (statuses.length === 0 || bad.length > 0)
          failures.push(`${page}:${c.line}: ${c.text}\n    ${stderr.trim().replaceAll('\n', '\n    ')}`);
      }
      assert.deepEqual(failures, [], `failed examples:\n${failures.join('\n')}`);
    });
  }
});
