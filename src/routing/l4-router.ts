/**
 * The router of L4 connections and datagrams (tcp, udp, tls_passthrough), compiled once per
 * generation from the routes whose protocols are L4 ones, as Kong's stream router: a route matches
 * when its protocol is the listener's and every matcher it sets matches: `sources` (the client's
 * address and port), `destinations` (the listener's local address and port) and, for
 * tls_passthrough, `snis` (the ClientHello's server name). A route setting none of them matches
 * every connection of its protocol (Kong requires one; Fulcrum lets a listener have a catch-all).
 *
 * Order among matching routes (docs/l4.md): higher `priority`; then more matchers set; then an
 * exact server name before a wildcard one; then order in the file.
 */
import type { BlockList } from 'node:net';
import type { CidrPort, L4Protocol } from '../config/l4.ts';
import type { RouteSpec } from '../config/types.ts';
import { buildCidrList, inCidrList } from '../core/net.ts';
import { remapEntries } from './remap.ts';

export interface L4Facts {
  readonly protocol: L4Protocol;
  readonly sourceIp: string;
  readonly sourcePort: number;
  readonly destIp: string;
  readonly destPort: number;
  /** The ClientHello's server name, lower case (tls_passthrough), or null. */
  readonly sni: string | null;
}

interface AddrRule {
  /** null: any address. */
  readonly list: BlockList | null;
  /** 0: any port. */
  readonly port: number;
}

interface Entry<R> {
  readonly route: R;
  readonly protocol: string;
  readonly sources: readonly AddrRule[] | null;
  readonly destinations: readonly AddrRule[] | null;
  /** Exact names, or null when this entry carries no exact names. */
  readonly exact: ReadonlySet<string> | null;
  /** Wildcard suffixes (`.example.com` for `*.example.com`), or null. */
  readonly wild: readonly string[] | null;
  readonly sortKey: readonly number[];
}

function addrRules(list: readonly CidrPort[]): AddrRule[] | null {
  if (list.length === 0) return null;
  return list.map((e) => {
    if (e.ip === '') return { list: null, port: e.port };
    const c = buildCidrList([e.ip]);
    return { list: 'list' in c ? c.list : null, port: e.port };
  });
}

function addrMatches(rules: readonly AddrRule[], ip: string, port: number): boolean {
  for (const r of rules) {
    if (r.port !== 0 && r.port !== port) continue;
    if (r.list !== null && !inCidrList(r.list, ip)) continue;
    return true;
  }
  return false;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i]! - a[i]!;
  return 0;
}

/** Whether `name` matches one of the wildcard suffixes: `*.example.com` wants at least one more label. */
function wildMatches(wild: readonly string[], name: string): boolean {
  for (const w of wild) if (name.length > w.length && name.endsWith(w)) return true;
  return false;
}

export class L4Router<R> {
  private readonly entries: readonly Entry<R>[];

  constructor(routes: readonly { route: R; spec: RouteSpec }[]) {
    const entries: Entry<R>[] = [];
    for (const { route, spec } of routes) {
      const l4 = spec.l4;
      if (l4 === null) continue;
      const categories =
        (l4.sources.length > 0 ? 1 : 0) + (l4.destinations.length > 0 ? 1 : 0) + (l4.snis.length > 0 ? 1 : 0);
      const sources = addrRules(l4.sources);
      const destinations = addrRules(l4.destinations);
      const exact = l4.snis.filter((s) => !s.startsWith('*.'));
      const wild = l4.snis.filter((s) => s.startsWith('*.')).map((s) => s.slice(1));
      const kinds: { exact: Set<string> | null; wild: string[] | null; plain: number }[] = [];
      if (l4.snis.length === 0) kinds.push({ exact: null, wild: null, plain: 0 });
      if (exact.length > 0) kinds.push({ exact: new Set(exact), wild: null, plain: 1 });
      if (wild.length > 0) kinds.push({ exact: null, wild, plain: 0 });
      for (const protocol of spec.protocols)
        for (const k of kinds)
          entries.push({
            route,
            protocol,
            sources,
            destinations,
            exact: k.exact,
            wild: k.wild,
            sortKey: [spec.priority, categories, k.plain, -spec.index],
          });
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

  /** Whether any route serves this protocol (a listener with none refuses every connection). */
  serves(protocol: L4Protocol): boolean {
    return this.entries.some((e) => e.protocol === protocol);
  }

  match(f: L4Facts): R | null {
    for (const e of this.entries) {
      if (e.protocol !== f.protocol) continue;
      if (e.sources !== null && !addrMatches(e.sources, f.sourceIp, f.sourcePort)) continue;
      if (e.destinations !== null && !addrMatches(e.destinations, f.destIp, f.destPort)) continue;
      if (e.exact !== null && (f.sni === null || !e.exact.has(f.sni))) continue;
      if (e.wild !== null && (f.sni === null || !wildMatches(e.wild, f.sni))) continue;
      return e.route;
    }
    return null;
  }
}
