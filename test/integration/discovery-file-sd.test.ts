/**
 * file_sd discovery with real files and real targets (docs/discovery.md): targets from a watched
 * directory of JSON and YAML files, labels mapped to weight, priority, zone and tags; an edited
 * file moves traffic, a broken file is refused alone (its last targets and the other files keep
 * serving), a file renamed away takes its targets with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { answers, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('file_sd discovery', () => {
  let one: TestUpstream;
  let two: TestUpstream;
  let three: TestUpstream;
  let dir: string;
  let fulcrum: TestNode;

  before(async () => {
    one = await startUpstream('one');
    two = await startUpstream('two');
    three = await startUpstream('three');
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-file-sd-'));
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([{ targets: [one.target], labels: { weight: '30', zone: 'z1', tags: 'blue, canary' } }]),
    );
    writeFileSync(join(dir, 'b.yaml'), `- targets: ["${two.target}"]\n  labels: { weight: "10" }\n`);
    writeFileSync(join(dir, 'ignored.txt'), 'not a target file');
    fulcrum = await startFulcrum(`services:
  - name: s
    host: web
    routes: [{ paths: [/] }]
upstreams:
  - name: web
    file_sd:
      directory: ${dir}
`);
  });

  after(async () => {
    await fulcrum?.stop();
    for (const u of [one, two, three]) await u?.close();
  });

  it('serves the targets of every file, labels mapped to weight, zone and tags', async () => {
    const seen = await answers(fulcrum.url, 40);
    assert.equal(seen.get('one'), 30);
    assert.equal(seen.get('two'), 10);
    const list = await admin(fulcrum.adminUrl, 'GET', '/upstreams/web/targets');
    const rows = list.body.data as Record<string, unknown>[];
    const a = rows.find((r) => r.target === one.target)!;
    assert.equal(a.source, 'file_sd');
    assert.equal(a.origin, join(dir, 'a.json'));
    assert.equal(a.zone, 'z1');
    assert.deepEqual(a.tags, ['blue', 'canary']);
    assert.ok(Date.parse(String(a.last_seen)) > 0);
  });

  it('follows an edited file', async () => {
    writeFileSync(join(dir, 'b.yaml'), `- targets: ["${three.target}"]\n`);
    await until(async () => {
      const seen = await answers(fulcrum.url, 8);
      return seen.has('three') && !seen.has('two');
    });
  });

  it('refuses a broken file alone: its last targets and the other files keep serving', async () => {
    const applied = fulcrum.node.discoveryApplied;
    writeFileSync(join(dir, 'b.yaml'), '- targets: [ "unterminated\n');
    writeFileSync(
      join(dir, 'c.json'),
      JSON.stringify([{ targets: [two.target], labels: { weight: 'heavy' } }]),
    );
    await until(async () => {
      const st = fulcrum.node.discovery.status() as { files: { refused: Record<string, string> }[] };
      const refused = st.files[0]!.refused;
      return refused['b.yaml'] !== undefined && refused['c.json'] !== undefined;
    });
    const st = fulcrum.node.discovery.status() as { files: { refused: Record<string, string> }[] };
    assert.match(st.files[0]!.refused['c.json']!, /weight: expected an integer/);
    assert.equal(fulcrum.node.discoveryApplied, applied, 'nothing changed in service');
    const seen = await answers(fulcrum.url, 20);
    assert.deepEqual([...seen.keys()].sort(), ['one', 'three']);
  });

  it('a file renamed away takes its targets with it', async () => {
    renameSync(join(dir, 'b.yaml'), join(dir, 'b.yaml.off'));
    await until(async () => !(await answers(fulcrum.url, 8)).has('three'));
    const seen = await answers(fulcrum.url, 10);
    assert.deepEqual([...seen.keys()], ['one']);
  });
});
