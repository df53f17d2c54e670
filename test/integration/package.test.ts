/**
 * The published package, as a user gets it: `npm pack` of this checkout (built by `npm test`),
 * installed into an empty project from the local npm cache (`--prefer-offline`: the registry only
 * for what the cache lacks), and there `npx fulcrum --help`, the client library, `startFulcrum`
 * serving a request and reloading, the config validator and the JSON Schema, all through the
 * package's `exports`; and the shipped type declarations checked by tsc as a consumer's would be.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/child.ts';

const run = promisify(execFile);
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];

/** What the consumer script prints: one JSON line of what it saw. */
const CONSUMER = `
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { request } from 'undici';
import { startFulcrum } from 'fulcrum';
import { upstreamDispatcher } from 'fulcrum/client';
import { validateConfig } from 'fulcrum/config';

const schema = createRequire(import.meta.url)('fulcrum/schema.json');
const server = createServer((req, res) => res.end('hello from ' + req.url));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const target = '127.0.0.1:' + server.address().port;

const config = (path) => ({
  _format_version: '3.0',
  listeners: [{ name: 'proxy', protocol: 'http', address: '127.0.0.1', port: 0 }],
  services: [{ name: 's', url: 'http://' + target, routes: [{ paths: [path] }] }],
});
const fulcrum = await startFulcrum({ config: config('/a'), logLevel: 'silent', accessLog: 'off' });
const proxy = 'http://127.0.0.1:' + fulcrum.proxyAddresses()[0].port;
const viaProxy = await (await request(proxy + '/a/x')).body.text();
const reloaded = await fulcrum.reload(config('/b'));
const afterReload = [(await request(proxy + '/a/x')).statusCode, (await request(proxy + '/b/y')).statusCode];
const refused = await fulcrum.reload({ _format_version: '3.0', services: [{ name: 's', port: 70000 }] });
const generation = fulcrum.status().config.generation;
await fulcrum.close();

const users = upstreamDispatcher({ upstream: { name: 'users', targets: [{ target }] } });
const viaClient = await (await request('http://users/c', { dispatcher: users })).body.text();
await users.close();
server.close();

console.log(JSON.stringify({
  viaProxy, reloaded: reloaded.ok, afterReload, refused: refused.ok, refusedPath: refused.issues?.[0]?.path,
  generation, viaClient, schemaTitle: schema.title,
  invalid: validateConfig({ _format_version: '3.0', upstreams: [{ name: 'u', algorithm: 'fastest' }] }).map((i) => i.path),
}));
`;

/** A consumer's TypeScript, checked against the shipped declarations. */
const TYPED = `
import { startFulcrum, type FulcrumConfig, type FulcrumHandle } from 'fulcrum';
import { upstreamDispatcher, type UpstreamDispatcherOptions } from 'fulcrum/client';
import { validateConfig, type UpstreamConfig } from 'fulcrum/config';

const upstream: UpstreamConfig = { name: 'u', algorithm: 'least-request', choice_count: 3, targets: [{ target: 'a:80' }] };
const options: UpstreamDispatcherOptions = { upstream, service: { retries: 2 } };
const config: FulcrumConfig = { _format_version: '3.0', upstreams: [upstream] };
const issues: readonly { path: string }[] = validateConfig(config);
export async function use(): Promise<FulcrumHandle> {
  upstreamDispatcher(options);
  // @ts-expect-error: not an algorithm
  const bad: UpstreamConfig = { name: 'u', algorithm: 'fastest' };
  void bad;
  void issues;
  return startFulcrum({ config });
}
`;

describe('the npm package', () => {
  let dir = '';
  let tarball = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-pack-'));
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: REPO_ROOT,
    });
    tarball = join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
    const project = join(dir, 'app');
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), '{ "name": "app", "private": true, "type": "module" }\n');
    await run('npm', ['install', ...NPM_FLAGS, tarball, 'undici'], { cwd: project, timeout: 90_000 });
  });

  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('ships what the exports name, the license, and no sources or tests', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter(Boolean);
    for (const f of [
      'package/LICENSE',
      'package/README.md',
      'package/bin/fulcrum.js',
      'package/dist/src/index.js',
      'package/dist/src/index.d.ts',
      'package/dist/src/client/index.js',
      'package/dist/src/client/index.d.ts',
      'package/dist/src/config/public.d.ts',
      'package/dist/src/config/file-validator.js',
      'package/schema/fulcrum.schema.json',
    ])
      assert.ok(files.includes(f), f);
    assert.deepEqual(
      files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')),
      [],
      'no TypeScript sources',
    );
    assert.deepEqual(
      files.filter((f) => f.includes('/test/') || f.endsWith('.map')),
      [],
      'no tests or source maps',
    );
  });

  it('npx fulcrum --help runs the installed command', async () => {
    const { stdout } = await run('npx', ['--no', '--', 'fulcrum', '--help'], { cwd: join(dir, 'app') });
    assert.match(stdout, /^fulcrum \d+\.\d+\.\d+: load balancer/);
  });

  it('startFulcrum serves, reloads and stops; the client library balances; the config entry validates', async () => {
    const project = join(dir, 'app');
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER);
    const { stdout } = await run(process.execPath, ['consumer.mjs'], { cwd: project, timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), {
      viaProxy: 'hello from /x',
      reloaded: true,
      afterReload: [404, 200],
      refused: false,
      refusedPath: 'services[0].port',
      generation: 2,
      viaClient: 'hello from /c',
      schemaTitle: 'Fulcrum declarative configuration',
      invalid: ['upstreams[0].algorithm'],
    });
  });

  it("the shipped type declarations check in a consumer's strict project", async () => {
    const project = join(dir, 'app');
    writeFileSync(join(project, 'typed.ts'), TYPED);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
        },
        files: ['typed.ts'],
      }),
    );
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', project]).catch((e: { stdout: string }) => e);
    assert.equal(r.stdout, '', 'no type errors');
  });
});
