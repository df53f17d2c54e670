/**
 * Every regular expression a configuration can hold (route paths and header values, the active
 * health check's http_body, cors origins) is refused at validation, with its path, when it cannot
 * run in linear time; the ones Kong users write load as before.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, formatIssue } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';

const HEAD = '_format_version: "3.0"\n';

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadSnapshotText(HEAD + text, 're.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected the configuration to be refused');
}

function only(issues: ConfigIssue[], path: string, message: RegExp): void {
  assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
  assert.equal(issues[0]!.path, path, formatIssue(issues[0]!));
  assert.match(issues[0]!.message, message);
}

const route = (paths: string, headers = '') => `services:
  - name: s
    url: http://127.0.0.1:9
    routes:
      - name: r
        paths: ${paths}
${headers}`;

describe('config: regular expressions that cannot run in linear time are refused', () => {
  it('a backreference in a route path', () => {
    only(
      issuesOf(route(String.raw`["/ok", "~/(a+)/\\1"]`)),
      'services[0].routes[0].paths[1]',
      /^regular expression refused: a backreference "\\1" .*linear time/,
    );
  });

  it('a named backreference, a lookahead and a lookbehind', () => {
    only(
      issuesOf(route(String.raw`["~/(?<x>a)\\k<x>"]`)),
      'services[0].routes[0].paths[0]',
      /a backreference "\\k<x>"/,
    );
    only(issuesOf(route(`["~/a(?=b)"]`)), 'services[0].routes[0].paths[0]', /a lookahead "\(\?="/);
    only(
      issuesOf(route(`["~/(?<!a)b"]`)),
      'services[0].routes[0].paths[0]',
      /a negative lookbehind "\(\?<!"/,
    );
  });

  it('a counted repetition past {16}, with the way to split it', () => {
    only(
      issuesOf(route(`["~/[0-9a-f]{32}"]`)),
      'services[0].routes[0].paths[0]',
      /counted repetitions up to \{16\}.*\{32\}/,
    );
    only(issuesOf(route(`["~/(?:(?:a{4}){4}){2}"]`)), 'services[0].routes[0].paths[0]', /nested/);
  });

  it('a case-insensitive header regex (~*) with a backreference, at the header', () => {
    only(
      issuesOf(
        route(
          `["/h"]`,
          String.raw`        headers:
          x-version: ["~*^(v)\\1$"]
`,
        ),
      ),
      'services[0].routes[0].headers.x-version',
      /a backreference/,
    );
  });

  it("an active health check's http_body", () => {
    only(
      issuesOf(`upstreams:
  - name: u
    healthchecks:
      active:
        http_body: "~(ok)(?=!)"
    targets: [{ target: 127.0.0.1:9 }]
`),
      'upstreams[0].healthchecks.active.http_body',
      /^regular expression refused: a lookahead/,
    );
  });

  it('a cors origin', () => {
    only(
      issuesOf(`plugins:
  - name: cors
    config:
      origins: ["https://(a)\\\\1\\\\.example"]
`),
      'plugins[0].config.origins[0]',
      /^regular expression refused: a backreference/,
    );
  });

  it('a regex that does not compile is still "invalid" (not "refused")', () => {
    only(
      issuesOf(route(`["~/(x"]`)),
      'services[0].routes[0].paths[0]',
      /^invalid regular expression: Unterminated group$/,
    );
  });
});

describe('config: the regexes Kong users write load as before', () => {
  it('captures, classes, alternations, bounded counts, anchors and nested quantifiers', () => {
    const paths = [
      '~/api/v(?<version>\\\\d+)/.*',
      '~/orders/\\\\d+$',
      '~/static/.*\\\\.(css|js|png)$',
      '~/ids/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
      '~/hex/[0-9a-f]{16}[0-9a-f]{16}$',
      '~/(a+)+$',
    ];
    const s = loadSnapshotText(
      HEAD +
        route(
          `[${paths.map((p) => `"${p}"`).join(', ')}]`,
          `        headers:
          x-tenant: ["~*^tenant-[a-z]+$", "exact"]
`,
        ),
      're.yaml',
    );
    assert.equal(s.routes[0]!.paths.length, paths.length);
  });
});
