/**
 * The registry on the cluster store's Redis (docs/discovery.md#redis), against a real redis-server:
 * the page's example node (a cluster node), and its redis-cli commands run as written (the port,
 * addresses and TTLs moved to this test's): a registration lands at its PUBLISH, the heartbeat
 * keeps it past its first expiry, DEL takes it away; a registration not refreshed leaves at its
 * expiry; while Redis is away the last targets serve.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { REPO_ROOT } from '../helpers/child.ts';
import { commandLines, markedBlock } from '../helpers/doc-examples.ts';
import { answers, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'discovery.md'), 'utf8');
const block = (marker: string, lang: string): string => markedBlock(DOC, marker, lang);

type Row = Record<string, unknown>;

describe('registry on the cluster store Redis', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let ups: Record<string, TestUpstream>;
  let fulcrum: TestNode;
  const cli = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn('redis-cli', ['-p', String(redis.port), ...args]);
      let out = '';
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      p.once('error', reject);
      p.once('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`redis-cli ${args.join(' ')}: ${code}`)),
      );
    });
  const registry = () =>
    (fulcrum.node.discovery.status() as { registry: { redis: { connected: boolean } } }).registry.redis;
  const reads = () => (fulcrum.node.discovery as unknown as { redis: { reads: number } }).redis.reads;
  const rows = async (): Promise<Row[]> =>
    (await admin(fulcrum.adminUrl, 'GET', '/upstreams/api/targets')).body.data as Row[];
  const registered = async () =>
    (await rows())
      .filter((r) => r.source === 'registry')
      .map((r) => String(r.target))
      .sort();

  before(async () => {
    redis = await startRedis();
    ups = {};
    for (const n of ['one', 'two', 'three']) ups[n] = await startUpstream(n);
    const yaml = block('example: registry-redis', 'yaml')
      .replace('_format_version: "3.0"\n', '')
      .replace('redis://127.0.0.1:6379', redis.url);
    fulcrum = await startFulcrum(yaml, { header: testHeader() });
  });

  after(async () => {
    await fulcrum?.stop();
    await redis?.stop();
    for (const u of Object.values(ups ?? {})) await u.close();
  });

  it('runs the documented redis-cli commands: register, heartbeat, leave', async () => {
    const cmds = commandLines(block('redis-cli', 'sh'), 'redis-cli');
    assert.deepEqual(
      cmds.map((c) => c[0]),
      ['SET', 'PUBLISH', 'EXPIRE', 'DEL', 'PUBLISH'],
    );
    const one = ups.one!;
    const key = `fulcrum:registry:api:${one.target}`;
    const args = (c: string[]) => c.map((a) => a.replace('10.0.0.1:8080', one.target));
    // The registration lives 2 s here (10 on the page), so that the heartbeat is seen to matter.
    const set = args(cmds[0]!);
    assert.deepEqual(set.slice(-2), ['EX', '10']);
    const t0 = Date.now();
    await cli([...set.slice(0, -1), '2']);
    await cli(args(cmds[1]!));
    await until(async () => (await answers(fulcrum.url, 1)).has('one'), 10_000);
    const servedMs = Date.now() - t0;
    const row = (await rows()).find((r) => r.target === one.target)!;
    assert.equal(row.source, 'registry');
    assert.equal(row.origin, `redis ${key}`);
    assert.equal(row.weight, 50);
    assert.deepEqual(row.tags, ['blue']);

    // The heartbeat: the registration is read again at its first expiry, and stays.
    await cli(args(cmds[2]!));
    const before = reads();
    await until(async () => Date.now() > t0 + 2100 && reads() > before);
    assert.deepEqual(await registered(), [one.target]);

    const t1 = Date.now();
    await cli(args(cmds[3]!));
    await cli(args(cmds[4]!));
    await until(async () => (await registered()).length === 0, 10_000);
    console.log(
      `# redis: SET+PUBLISH to first served request ${servedMs} ms; DEL+PUBLISH to removal ${Date.now() - t1} ms`,
    );
  });

  it('takes a registration away at its expiry when nobody refreshes it', async () => {
    const two = ups.two!;
    const t0 = Date.now();
    await cli(['SET', `fulcrum:registry:api:${two.target}`, '', 'PX', '1500']);
    await cli(['SET', 'fulcrum:registry:api:nope:99999', '{}', 'EX', '60']);
    await cli(['PUBLISH', 'fulcrum:registry', 'api']);
    await until(async () => (await registered()).includes(two.target));
    assert.deepEqual([...(await answers(fulcrum.url, 3)).keys()], ['two']);
    const st = fulcrum.node.discovery.status() as {
      registry: { redis: { refused: Record<string, string> } };
    };
    assert.match(st.registry.redis.refused['fulcrum:registry:api:nope:99999']!, /expected address:port/);
    await until(async () => (await registered()).length === 0, 10_000);
    console.log(`# redis: registration of 1,500 ms removed ${Date.now() - t0} ms after its SET`);
    await cli(['DEL', 'fulcrum:registry:api:nope:99999']);
  });

  it('keeps the last targets while Redis is away, and reads again when it is back', async () => {
    const [two, three] = [ups.two!, ups.three!];
    await cli(['SET', `fulcrum:registry:api:${two.target}`, '{}']);
    await cli(['PUBLISH', 'fulcrum:registry', 'api']);
    await until(async () => (await registered()).includes(two.target));
    await redis.kill();
    await until(async () => !registry().connected);
    assert.deepEqual([...(await answers(fulcrum.url, 3)).keys()], ['two']);
    await redis.restart(); // empty, as a Redis that lost its memory: the application registers again
    const t0 = Date.now();
    await until(async () => {
      await cli(['SET', `fulcrum:registry:api:${three.target}`, '{}', 'EX', '30']);
      await cli(['PUBLISH', 'fulcrum:registry', 'api']);
      return (await registered()).join() === three.target;
    }, 20_000);
    console.log(`# redis: restarted empty; registered again and served within ${Date.now() - t0} ms`);
  });
});
