/**
 * One route of the declarative file checked and compiled into a RouteSpec: its paths (prefixes
 * and `~` regexes that must run in linear time), hosts with wildcards, header matchers, methods
 * and L4 matchers. One part of normalize() (normalize.ts has the whole).
 */
import { regexProblem } from '../core/linear-regex.ts';
import { isHostname } from '../core/net.ts';
import { idOf } from './entity-ids.ts';
import { normalizeL4Route } from './l4.ts';
import { type ConfigIssue, formatPath, type ParsedSource, type PathPart } from './load.ts';
import { routeSchema } from './schema.ts';
import { defaultsOf } from './schema-kit.ts';
import type { RouteSpec } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** The route defaults, from the schema (docs/configuration.md shows the same values). */
const D: Raw = defaultsOf(routeSchema);

export function compileRoute(
  src: ParsedSource,
  r: Raw,
  at: PathPart[],
  service: string,
  index: number,
  issues: ConfigIssue[],
): RouteSpec {
  const paths: string[] = r.paths ?? [];
  paths.forEach((p, i) => {
    if (p.startsWith('~')) {
      const problem = regexProblem(p.slice(1));
      if (problem !== null) issues.push(src.issue([...at, 'paths', i], problem));
    } else if (!p.startsWith('/'))
      issues.push(
        src.issue(
          [...at, 'paths', i],
          `expected a path starting with "/" (or "~" for a regex), got ${JSON.stringify(p)}`,
        ),
      );
  });
  const hosts: string[] = (r.hosts ?? []).map((h: string) => h.toLowerCase());
  hosts.forEach((h, i) => {
    const stars = h.split('*').length - 1;
    const bare = h.replace(/:\d+$/, '');
    const ok =
      stars === 0
        ? isHostname(bare) || bare.startsWith('[')
        : stars === 1 && (bare.startsWith('*.') || bare.endsWith('.*')) && isHostname(bare.replace('*', 'x'));
    if (!ok)
      issues.push(
        src.issue(
          [...at, 'hosts', i],
          `expected a hostname, optionally with one leading "*." or trailing ".*" wildcard, got ${JSON.stringify(h)}`,
        ),
      );
  });
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries((r.headers ?? {}) as Record<string, string[]>)) {
    const lname = name.toLowerCase();
    if (lname === 'host')
      issues.push(src.issue([...at, 'headers'], 'use "hosts" to match the Host header', name));
    for (const v of values) {
      const problem = v.startsWith('~*') ? regexProblem(v.slice(2), { ignoreCase: true }) : null;
      if (problem !== null) issues.push(src.issue([...at, 'headers', name], problem));
    }
    headers[lname] = values;
  }
  const methods: string[] = r.methods ?? [];
  const l4 = normalizeL4Route(src, r, at, issues);
  if (l4 === null && paths.length + hosts.length + methods.length + Object.keys(headers).length === 0)
    issues.push(src.issue(at, 'a route needs at least one of "hosts", "paths", "methods" or "headers"'));
  return {
    id: idOf('route', r, r.name ?? formatPath(at)),
    name: r.name ?? '',
    index,
    path: formatPath(at),
    service,
    protocols: r.protocols ?? D.protocols,
    methods,
    hosts,
    paths,
    headers,
    stripPath: r.strip_path ?? D.strip_path,
    preserveHost: r.preserve_host ?? D.preserve_host,
    httpsRedirectStatus: r.https_redirect_status_code ?? D.https_redirect_status_code,
    retryNonIdempotent: r.retry_non_idempotent ?? D.retry_non_idempotent,
    regexPriority: r.regex_priority ?? D.regex_priority,
    priority: r.priority ?? D.priority,
    pathHandling: r.path_handling ?? D.path_handling,
    tags: r.tags ?? [],
    l4,
  };
}
