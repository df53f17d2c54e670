/**
 * The registry on a real etcd (docs/discovery.md#etcd): the page's example node, and its etcdctl
 * commands run as written (addresses and the lease id moved to this test's); a lease that expires
 * takes its target away; a bad registration is refused alone; the watch resumes after etcd
 * restarts; and a target whose heartbeats stop (its process died) costs no request under
 * keep-alive load with retries on.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { REPO_ROOT } from '../helpers/child.ts';
import { commandLines, markedBlock } from '../helpers/doc-examples.ts';
import { hasEtcd, startEtcd, type TestEtcd } from '../helpers/etcd.ts';
import { answers, keepAliveLoad, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'discovery.md'), 'utf8');
const block = (marker: string, lang: string): string => markedBlock(DOC, marker, lang);

type Row = Record<string, unknown>;
const rows = async (node: TestNode): Promise<Row[]> =>
  (await admin(node.adminUrl, 'GET', '/upstreams/api/targets')).body.data as Row[];
const registered = async (node: TestNode): Promise<string[]> =>
  (await rows(node))
    .filter((r) => r.source === 'registry')
    .map((r) => String(r.target))
    .sort();

describe('registry on etcd', { skip: hasEtcd ? false : 'etcd is not installed', timeout: 120_000 }, () => {
  let etcd: TestEtcd;
  let ups: Record<string, TestUpstream>;
  let fulcrum: TestNode;
  const keepAlives: ChildProcess[] = [];
  const key = (u: TestUpstream) => `fulcrum/upstreams/api/targets/${u.target}`;
  const grant = async (ttlS: number) => {
    const out = await etcd.etcdctl(['lease', 'grant', String(ttlS)]);
    return /lease ([0-9a-f]+) granted/.exec(out)![1]!;
  };

  before(async () => {
    etcd = await startEtcd();
    ups = {};
    for (const n of ['one', 'two', 'three', 'four', 'five']) ups[n] = await startUpstream(n);
    const yaml = block('example: registry-etcd', 'yaml')
      .replace('_format_version: "3.0"\n', '')
      .replace('127.0.0.1:2379', etcd.endpoint);
    fulcrum = await startFulcrum(yaml, { header: testHeader() });
  });

  after(async () => {
    for (const k of keepAlives) k.kill();
    await fulcrum?.stop();
    await etcd?.close();
    for (const u of Object.values(ups ?? {})) await u.close();
  });

  it('runs the documented etcdctl commands: register, keep alive, revoke', async () => {
    const cmds = commandLines(block('etcdctl', 'sh'), 'etcdctl');
    assert.deepEqual(
      cmds.map((c) => c.slice(0, 2).join(' ')),
      ['lease grant', 'put --lease=694d7c8a3b1e2f05', 'lease keep-alive', 'lease revoke'],
    );
    const one = ups.one!;
    const lease = await grant(Number(cmds[0]![2]));
    const args = (c: string[]) =>
      c.map((a) => a.replace('694d7c8a3b1e2f05', lease).replace('10.0.0.1:8080', one.target));
    const t0 = Date.now();
    await etcd.etcdctl(args(cmds[1]!));
    await until(async () => (await answers(fulcrum.url, 1)).has('one'), 10_000);
    const servedMs = Date.now() - t0;
    const row = (await rows(fulcrum)).find((r) => r.target === one.target)!;
    assert.equal(row.source, 'registry');
    assert.equal(row.origin, `etcd ${key(one)}`);
    assert.equal(row.weight, 50);
    assert.deepEqual(row.tags, ['blue']);
    assert.ok(Date.parse(String(row.last_seen)) >= t0 - 1000, String(row.last_seen));

    // The heartbeat renews the lease: its remaining time climbs back to the full TTL.
    const remaining = async () =>
      Number(/remaining\((-?\d+)s\)/.exec(await etcd.etcdctl(['lease', 'timetolive', lease]))![1]);
    await until(async () => (await remaining()) < 9);
    const k = etcd.keepAlive(args(cmds[2]!)[2]!);
    keepAlives.push(k);
    await until(async () => (await remaining()) >= 9);

    const t1 = Date.now();
    await etcd.etcdctl(args(cmds[3]!));
    await until(async () => (await registered(fulcrum)).length === 0, 10_000);
    const leftMs = Date.now() - t1;
    k.kill();
    assert.equal((await answers(fulcrum.url, 1)).get('status 503'), 1);
    console.log(`# etcd: put to first served request ${servedMs} ms; revoke to removal ${leftMs} ms`);
  });

  it('takes a target away when its lease expires; refuses a bad registration alone', async () => {
    const two = ups.two!;
    const lease = await grant(2);
    const granted = Date.now();
    await etcd.etcdctl(['put', `--lease=${lease}`, key(two), '']);
    await etcd.etcdctl(['put', 'fulcrum/upstreams/api/targets/10.0.0.9:8080', '{"weight":"heavy"}']);
    await until(async () => (await registered(fulcrum)).includes(two.target));
    const st = fulcrum.node.discovery.status() as { registry: { etcd: { refused: Record<string, string> } } };
    assert.match(
      st.registry.etcd.refused['fulcrum/upstreams/api/targets/10.0.0.9:8080']!,
      /weight: expected an integer/,
    );
    assert.deepEqual([...(await answers(fulcrum.url, 3)).keys()], ['two']);
    assert.equal((await rows(fulcrum)).find((r) => r.target === two.target)!.weight, 100);
    await until(async () => !(await registered(fulcrum)).includes(two.target), 10_000);
    console.log(`# etcd: lease of 2 s granted, target removed ${Date.now() - granted} ms after the grant`);
    await etcd.etcdctl(['del', '--prefix', 'fulcrum/']);
  });

  it('watches again after etcd restarts; the last targets serve meanwhile', async () => {
    const [two, three] = [ups.two!, ups.three!];
    await etcd.etcdctl(['put', key(two), '{}']);
    await until(async () => (await registered(fulcrum)).includes(two.target));
    const status = () =>
      (fulcrum.node.discovery.status() as { registry: { etcd: { watching: boolean } } }).registry.etcd;
    await etcd.stop();
    await until(async () => !status().watching);
    assert.deepEqual([...(await answers(fulcrum.url, 3)).keys()], ['two']);
    const t0 = Date.now();
    await etcd.start();
    await etcd.etcdctl(['put', key(three), '{"weight":10}']);
    await until(async () => (await registered(fulcrum)).includes(three.target), 20_000);
    const resumedMs = Date.now() - t0;
    await etcd.etcdctl(['del', key(two)]);
    await until(async () => (await registered(fulcrum)).join() === three.target);
    assert.equal(status().watching, true);
    console.log(`# etcd: restarted; a registration made after it served ${resumedMs} ms after the start`);
    await etcd.etcdctl(['del', '--prefix', 'fulcrum/']);
  });

  it('a target whose heartbeats stop (its process died): no failed request under keep-alive load', async () => {
    const [four, five] = [ups.four!, ups.five!];
    const lease = await grant(2);
    const k = etcd.keepAlive(lease);
    keepAlives.push(k);
    await etcd.etcdctl(['put', `--lease=${lease}`, key(four), '{}']);
    await etcd.etcdctl(['put', key(five), '{}']);
    await until(async () => (await registered(fulcrum)).length === 2);
    await until(async () => (await answers(fulcrum.url, 20)).has('four'));
    const load = keepAliveLoad(fulcrum.url);
    await until(async () => load.done() > 200);
    // The process dies: no more heartbeats, its port refuses, its connections close.
    const t0 = Date.now();
    k.kill();
    await four.close();
    await until(async () => !(await registered(fulcrum)).includes(four.target), 15_000);
    const removedMs = Date.now() - t0;
    const settled = load.done();
    await until(async () => load.done() > settled + 200);
    const { done, failed } = await load.stop();
    assert.equal(failed, 0, `${failed} of ${done} requests failed`);
    console.log(
      `# etcd: heartbeats stopped (TTL 2 s), target removed after ${removedMs} ms; ${done} requests, 0 failed`,
    );
  });
});
