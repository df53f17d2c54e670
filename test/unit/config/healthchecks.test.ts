import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';

const load = (upstream: string) =>
  loadSnapshotText(`_format_version: "3.0"\nupstreams:\n  - name: u\n${upstream}`, 'f.yaml').upstreams[0]!;

function issues(upstream: string): string[] {
  try {
    load(upstream);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: upstream healthchecks', () => {
  it("defaults to Kong's values, checks off, and Envoy's panic threshold and ejection times", () => {
    const h = load('    targets: []\n').healthchecks;
    assert.equal(h.activeOn, false);
    assert.equal(h.passiveOn, false);
    assert.equal(h.threshold, 50);
    assert.deepEqual(h.active, {
      type: 'http',
      httpPath: '/',
      method: 'GET',
      httpBody: undefined,
      jitterMs: 0,
      tcpSend: undefined,
      tcpExpect: undefined,
      udpSend: undefined,
      udpExpect: undefined,
      grpcService: '',
      timeoutMs: 1000,
      concurrency: 10,
      headers: {},
      httpsSni: undefined,
      httpsVerifyCertificate: true,
      healthy: { intervalMs: 0, httpStatuses: [200, 302], successes: 0 },
      unhealthy: {
        intervalMs: 0,
        httpStatuses: [429, 404, 500, 501, 502, 503, 504, 505],
        tcpFailures: 0,
        timeouts: 0,
        httpFailures: 0,
      },
    });
    assert.deepEqual(h.passive.unhealthy.httpStatuses, [429, 500, 503]);
    assert.equal(h.passive.healthy.httpStatuses.length, 19);
    assert.equal(h.passive.baseEjectionMs, 30000);
    assert.equal(h.passive.maxEjectionMs, 300000);
    assert.equal(h.passive.maxEjectionPercent, 100);
    assert.equal(h.passive.successRate, null);
    assert.ok(Object.isFrozen(h.active.healthy));
  });

  it('gives an implicit upstream the defaults', () => {
    const s = loadSnapshotText(
      '_format_version: "3.0"\nservices:\n  - name: s\n    url: http://example.com\n',
      'f.yaml',
    );
    assert.equal(s.upstreams[0]!.healthchecks.activeOn, false);
  });

  it('reads every field, seconds into milliseconds, header names lower-cased', () => {
    const h = load(`    healthchecks:
      active:
        type: https
        http_path: /status
        timeout: 0.25
        concurrency: 3
        headers: { Host: [api.internal], X-Probe: [a, b] }
        https_sni: api.internal
        https_verify_certificate: false
        healthy: { interval: 2, http_statuses: [200], successes: 2 }
        unhealthy: { interval: 0.5, http_statuses: [500], tcp_failures: 1, timeouts: 2, http_failures: 3 }
      passive:
        healthy: { http_statuses: [200, 204], successes: 4 }
        unhealthy: { http_statuses: [502], tcp_failures: 5, timeouts: 6, http_failures: 7 }
        base_ejection_time: 0.1
        max_ejection_time: 1
      threshold: 0
`).healthchecks;
    assert.equal(h.activeOn, true);
    assert.equal(h.passiveOn, true);
    assert.equal(h.threshold, 0);
    assert.equal(h.active.type, 'https');
    assert.equal(h.active.timeoutMs, 250);
    assert.deepEqual(h.active.headers, { host: ['api.internal'], 'x-probe': ['a', 'b'] });
    assert.equal(h.active.httpsVerifyCertificate, false);
    assert.deepEqual(h.active.unhealthy, {
      intervalMs: 500,
      httpStatuses: [500],
      tcpFailures: 1,
      timeouts: 2,
      httpFailures: 3,
    });
    assert.deepEqual(h.passive.unhealthy, {
      httpStatuses: [502],
      tcpFailures: 5,
      timeouts: 6,
      httpFailures: 7,
    });
    assert.equal(h.passive.baseEjectionMs, 100);
    assert.equal(h.passive.maxEjectionMs, 1000);
  });

  it('loads the healthchecks of the Kong fixture', () => {
    const h = load(`    healthchecks:
      active: { type: http, http_path: /health, healthy: { interval: 5, successes: 2 }, unhealthy: { interval: 5, http_failures: 3 } }
      passive: { healthy: { successes: 5 }, unhealthy: { http_failures: 5 } }
      threshold: 0
`).healthchecks;
    assert.equal(h.active.healthy.intervalMs, 5000);
    assert.equal(h.passive.unhealthy.httpFailures, 5);
  });

  it('refuses bad values with their position', () => {
    // The default unhealthy list holds 503 (its 6th entry): the issue points at the nearest node written.
    assert.deepEqual(
      issues(`    healthchecks:
      active:
        healthy: { interval: 1, http_statuses: [200, 503] }
`),
      [
        '6:9 upstreams[0].healthchecks.active.unhealthy.http_statuses[5]: status 503 is also in healthy.http_statuses',
      ],
    );
    const overlap = issues(`    healthchecks:
      passive:
        healthy: { http_statuses: [200, 500] }
        unhealthy: { http_statuses: [429, 500] }
`);
    assert.deepEqual(overlap, [
      '7:43 upstreams[0].healthchecks.passive.unhealthy.http_statuses[1]: status 500 is also in healthy.http_statuses',
    ]);
    const timeout = issues(`    healthchecks:
      active:
        timeout: 0
        healthy: { interval: 1 }
`);
    assert.deepEqual(timeout, [
      '6:18 upstreams[0].healthchecks.active.timeout: expected a timeout above 0 when active checks run',
    ]);
    const ejection = issues(`    healthchecks:
      passive:
        base_ejection_time: 10
        max_ejection_time: 5
`);
    assert.deepEqual(ejection, [
      '7:28 upstreams[0].healthchecks.passive.max_ejection_time: expected at least base_ejection_time (10)',
    ]);
  });

  it('reads the probe extensions: method, http_body, jitter, tcp_send, tcp_expect', () => {
    const h = load(`    healthchecks:
      active:
        method: HEAD
        jitter: 0.5
        tcp_send: 'PING\\r\\n'
        tcp_expect: "+PONG"
        healthy: { interval: 1 }
`).healthchecks.active;
    assert.equal(h.method, 'HEAD');
    assert.equal(h.jitterMs, 500);
    assert.equal(h.tcpSend, 'PING\\r\\n');
    assert.equal(h.tcpExpect, '+PONG');
    assert.equal(
      load('    healthchecks: { active: { http_body: "~^ok$" } }\n').healthchecks.active.httpBody,
      '~^ok$',
    );
  });

  it('refuses a bad payload escape, a bad body regex, and a body match on HEAD', () => {
    assert.deepEqual(issues("    healthchecks: { active: { tcp_send: 'a\\qb' } }\n"), [
      '4:41 upstreams[0].healthchecks.active.tcp_send: bad escape at character 2: expected \\r, \\n, \\t, \\0, \\\\ or \\xHH',
    ]);
    const re = issues('    healthchecks: { active: { http_body: "~(ok" } }\n');
    assert.equal(re.length, 1);
    assert.match(re[0]!, /healthchecks\.active\.http_body: invalid regular expression: Unterminated group$/);
    assert.deepEqual(issues('    healthchecks: { active: { method: HEAD, http_body: ok } }\n'), [
      '4:56 upstreams[0].healthchecks.active.http_body: a HEAD response has no body to match: use GET',
    ]);
    assert.match(issues('    healthchecks: { active: { method: POST } }\n')[0]!, /method/);
    assert.deepEqual(issues('    healthchecks: { active: { type: udp } }\n'), [
      '4:37 upstreams[0].healthchecks.active.type: a udp check needs udp_send (the datagram to send)',
    ]);
    assert.match(
      issues("    healthchecks: { active: { type: udp, udp_send: '\\x1' } }\n")[0]!,
      /udp_send: bad escape/,
    );
    const u = load(
      "    healthchecks: { active: { type: udp, udp_send: 'ping\\n', udp_expect: pong } }\n",
    ).healthchecks;
    assert.deepEqual([u.active.type, u.active.udpSend, u.active.udpExpect], ['udp', 'ping\\n', 'pong']);
    assert.match(
      issues('    healthchecks: { active: { jitter: -1 } }\n')[0]!,
      /jitter: expected a number >= 0/,
    );
  });

  it("reads max_ejection_percent and success_rate with Envoy's defaults; success_rate turns passive on", () => {
    const p = load(`    healthchecks:
      passive:
        max_ejection_percent: 10
        success_rate: { interval: 0.5 }
`).healthchecks;
    assert.equal(p.passiveOn, true);
    assert.equal(p.passive.maxEjectionPercent, 10);
    assert.equal(
      load('    healthchecks: { passive: { type: grpcs } }\n').healthchecks.passive.type,
      'grpcs',
      'Kong allows it',
    );
    assert.deepEqual(p.passive.successRate, {
      intervalMs: 500,
      minimumHosts: 5,
      requestVolume: 100,
      stdevFactor: 1900,
    });
    assert.match(
      issues('    healthchecks: { passive: { max_ejection_percent: 101 } }\n')[0]!,
      /max_ejection_percent/,
    );
    assert.match(
      issues('    healthchecks: { passive: { success_rate: { minimum_hosts: 0 } } }\n')[0]!,
      /minimum_hosts: expected a number >= 1/,
    );
  });

  it('refuses what the schema forbids, naming the path', () => {
    const cases: [string, RegExp][] = [
      ['      active: { type: smtp }\n', /healthchecks\.active\.type: .*http.*https.*tcp.*udp.*grpc.*grpcs/],
      ['      threshold: 101\n', /healthchecks\.threshold: expected a number <= 100/],
      [
        '      active: { healthy: { interval: -1 } }\n',
        /healthchecks\.active\.healthy\.interval: expected a number >= 0/,
      ],
      [
        '      active: { unhealthy: { http_statuses: [99] } }\n',
        /http_statuses\[0\]: expected a number >= 100/,
      ],
      ['      passive: { unhealthy: { http_failures: 256 } }\n', /http_failures: expected a number <= 255/],
      ['      active: { colour: red }\n', /healthchecks\.active\.colour: unknown field/],
      ['      active: { http_path: health }\n', /http_path/],
    ];
    for (const [yaml, want] of cases) {
      const got = issues(`    healthchecks:\n${yaml}`);
      assert.equal(got.length, 1, `${yaml}: ${JSON.stringify(got)}`);
      assert.match(got[0]!, want);
    }
  });
});
