/**
 * Reading a hosts file (src/discovery/hosts-file.ts): addresses by family and name, comments,
 * aliases, case, and lines that give no target; a name in the file is answered from it alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { QueryType } from '../../../src/discovery/dns-client.ts';
import { parseHosts, withHostsFile } from '../../../src/discovery/hosts-file.ts';

describe('the hosts file', () => {
  it('maps each name and alias to its IPv4 and IPv6 addresses', () => {
    const m = parseHosts(
      '127.0.0.1 localhost\n# 10.0.0.9 commented\n10.0.0.1\tApi.Test api  # alias\n10.0.0.2 api.test.\n::1 localhost ip6-localhost\nfe80::1%eth0 zoned\nnot-an-ip name\n10.0.0.3\n',
    );
    assert.deepEqual(m.get('api.test'), { A: ['10.0.0.1', '10.0.0.2'], AAAA: [] });
    assert.deepEqual(m.get('api'), { A: ['10.0.0.1'], AAAA: [] });
    assert.deepEqual(m.get('localhost'), { A: ['127.0.0.1'], AAAA: ['::1'] });
    assert.equal(m.has('zoned'), false);
    assert.equal(m.has('name'), false);
    assert.equal(m.has('commented'), false);
  });

  it('answers its names alone and asks the next query about the others', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-hosts-')), 'hosts');
    writeFileSync(file, '10.0.0.1 api.test\n');
    const asked: string[] = [];
    const q = withHostsFile(file, async (name: string, type: QueryType) => {
      asked.push(`${type} ${name}`);
      return { kind: 'empty', rcode: 'NXDOMAIN' };
    });
    const a = await q('API.test', 'A');
    assert.equal(a.kind, 'ok');
    assert.deepEqual(a.kind === 'ok' ? a.records.map((r) => [r.data, r.ttlS]) : [], [['10.0.0.1', 10]]);
    assert.equal((await q('api.test', 'SRV')).kind, 'empty');
    assert.equal((await q('api.test', 'AAAA')).kind, 'empty');
    assert.deepEqual(asked, []);
    await q('web.test', 'A');
    assert.deepEqual(asked, ['A web.test']);
    const none = withHostsFile(join(file, 'missing'), async () => ({ kind: 'error', why: 'down' }));
    assert.equal((await none('api.test', 'A')).kind, 'error', 'no file: DNS is asked');
  });
});
