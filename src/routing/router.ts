/**
 * The router, compiled once per generation from the routes of a snapshot.
 *
 * Matching order (documented in docs/routing.md): every field a route sets must match; among
 * routes that match, the first in this order wins:
 *  1. higher `priority` (Fulcrum extension)
 *  2. more match categories set (hosts, methods, headers, paths), as Kong
 *  3. a plain host before a wildcard host
 *  4. more headers
 *  5. regex paths before prefix paths; among regex paths higher `regex_priority` first
 *  6. longer path first
 *  7. order in the file
 * Routes are expanded into one entry per (path, host kind) so a linear scan of the sorted entries
 * returns the right route at its first match.
 */

import type { RouteSpec } from '../config/types.ts';
import { linearRegExp } from '../core/linear-regex.ts';
import { remapEntries } from './remap.ts';

export interface RouteMatch<R> {
  readonly route: R;
  /** Length of the matched path prefix (0 when the route has no paths). */
  readonly matchedLength: number;
  /** The regex path's match (numbered and named captures), or null for a prefix or no path. */
  readonly captures: RegExpExecArray | null;
}

/** A wildcard host: `*.example.com` (suffix `.example.com`) or `example.*` (prefix `example.`). */
interface WildHost {
  readonly suffix: boolean;
  readonly stem: string;
  /** The port the pattern names (`*.example.com:8080`), or '' for any port. */
  readonly port: string;
}

interface HostRule {
  /** Plain hosts without a port: match whatever port the request names. */
  readonly exact: ReadonlySet<string>;
  /** Plain hosts with a port (`example.com:8080`): match that host and port only. */
  readonly exactWithPort: ReadonlySet<string>;
  readonly wild: readonly WildHost[];
}

interface HeaderRule {
  readonly name: string;
  readonly values: readonly string[];
  readonly regexes: readonly RegExp[];
}

interface Entry<R> {
  readonly route: R;
  readonly spec: RouteSpec;
  readonly methods: ReadonlySet<string> | null;
  readonly host: HostRule | null;
  readonly headers: readonly HeaderRule[];
  readonly prefix: string | null;
  readonly regex: RegExp | null;
  readonly sortKey: readonly number[];
}

export interface RequestFacts {
  readonly method: string;
  /** The Host header, lower-cased, with its port if any. */
  readonly host: string;
  /** The normalized path, without the query. */
  readonly path: string;
  /** The request's fields: a value by lower-case name, repeats joined (src/http1/fields.ts). */
  readonly headers: { get(name: string): string | undefined };
}

function hostRule(hosts: readonly string[], wildcard: boolean): HostRule | null {
  const picked = hosts.filter((h) => h.includes('*') === wildcard);
  if (picked.length === 0) return null;
  const exact = new Set<string>();
  const exactWithPort = new Set<string>();
  const wild: WildHost[] = [];
  for (const h of picked) {
    const m = /:(\d+)$/.exec(h);
    const port = m ? m[1]! : '';
    const bare = m ? h.slice(0, m.index) : h;
    if (bare.startsWith('*.')) wild.push({ suffix: true, stem: bare.slice(1), port });
    else if (bare.endsWith('.*')) wild.push({ suffix: false, stem: bare.slice(0, -1), port });
    else if (port !== '') exactWithPort.add(h);
    else exact.add(h);
  }
  return { exact, exactWithPort, wild };
}

/** `host` is the lower-cased Host header, with its port if any (`[v6]:port` for IPv6). */
function hostMatches(rule: HostRule, host: string): boolean {
  const colon = host.lastIndexOf(':');
  const hasPort = colon > 0 && host.indexOf(']') < colon;
  const bare = hasPort ? host.slice(0, colon) : host;
  if (rule.exact.has(bare)) return true;
  if (hasPort && rule.exactWithPort.has(host)) return true;
  for (const w of rule.wild) {
    if (w.port !== '' && (!hasPort || host.slice(colon + 1) !== w.port)) continue;
    if (bare.length <= w.stem.length) continue;
    if (w.suffix ? bare.endsWith(w.stem) : bare.startsWith(w.stem)) return true;
  }
  return false;
}

/** A header rule against a field's value (repeated fields arrive joined: any element may match). */
function headerMatches(rule: HeaderRule, v: string | undefined): boolean {
  if (v === undefined) return false;
  if (itemMatches(rule, v)) return true;
  if (!v.includes(',')) return false;
  for (const item of v.split(',')) if (itemMatches(rule, item.trim())) return true;
  return false;
}

function itemMatches(rule: HeaderRule, item: string): boolean {
  const lower = item.toLowerCase();
  if (rule.values.includes(lower)) return true;
  for (const re of rule.regexes) if (re.test(item)) return true;
  return false;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i]! - a[i]!;
  return 0;
}

export class Router<R> {
  private readonly entries: readonly Entry<R>[];

  constructor(routes: readonly { route: R; spec: RouteSpec }[]) {
    const entries: Entry<R>[] = [];
    for (const { route, spec } of routes) {
      const categories =
        (spec.hosts.length > 0 ? 1 : 0) +
        (spec.methods.length > 0 ? 1 : 0) +
        (Object.keys(spec.headers).length > 0 ? 1 : 0) +
        (spec.paths.length > 0 ? 1 : 0);
      const headers: HeaderRule[] = Object.entries(spec.headers).map(([name, values]) => ({
        name,
        values: values.filter((v) => !v.startsWith('~*')).map((v) => v.toLowerCase()),
        regexes: values
          .filter((v) => v.startsWith('~*'))
          .map((v) => linearRegExp(v.slice(2), { ignoreCase: true })),
      }));
      const methods = spec.methods.length > 0 ? new Set(spec.methods) : null;
      const hostKinds: (HostRule | null)[] =
        spec.hosts.length === 0
          ? [null]
          : [hostRule(spec.hosts, false), hostRule(spec.hosts, true)].filter((h) => h !== null);
      const paths: (string | null)[] = spec.paths.length === 0 ? [null] : [...spec.paths];
      for (const host of hostKinds) {
        for (const p of paths) {
          const isRegex = p?.startsWith('~') ?? false;
          const plainHost = host !== null && host.wild.length === 0 ? 1 : 0;
          entries.push({
            route,
            spec,
            methods,
            host,
            headers,
            prefix: p !== null && !isRegex ? p : null,
            regex: isRegex ? linearRegExp(p!.slice(1), {}, '^(?:', ')') : null,
            sortKey: [
              spec.priority,
              categories,
              plainHost,
              headers.length,
              isRegex ? 1 : 0,
              isRegex ? spec.regexPriority : 0,
              p?.length ?? 0,
              -spec.index,
            ],
          });
        }
      }
    }
    entries.sort((a, b) => compare(a.sortKey, b.sortKey));
    this.entries = entries;
  }

  /**
   * The same rules carrying other route objects (a generation whose routes only point at rebuilt
   * services): a copy of the entries, with no matcher compiled and no sort.
   */
  remap(map: ReadonlyMap<R, R>): this {
    return remapEntries(this, this.entries, map);
  }

  /** The routes in matching order (for status pages and tests). */
  order(): R[] {
    const seen = new Set<R>();
    for (const e of this.entries) seen.add(e.route);
    return [...seen];
  }

  match(req: RequestFacts): RouteMatch<R> | null {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.methods !== null && !e.methods.has(req.method)) continue;
      if (e.host !== null && !hostMatches(e.host, req.host)) continue;
      let matchedLength = 0;
      let captures: RegExpExecArray | null = null;
      if (e.prefix !== null) {
        if (!req.path.startsWith(e.prefix)) continue;
        matchedLength = e.prefix.length;
      } else if (e.regex !== null) {
        const m = e.regex.exec(req.path);
        if (m === null) continue;
        matchedLength = m[0].length;
        captures = m;
      }
      let ok = true;
      for (const h of e.headers)
        if (!headerMatches(h, req.headers.get(h.name))) {
          ok = false;
          break;
        }
      if (!ok) continue;
      return { route: e.route, matchedLength, captures };
    }
    return null;
  }
}
