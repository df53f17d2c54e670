/**
 * DNS discovery, as Kong's balancer and nginx's `resolve` do it: every name that a target or a
 * service marked `resolve` carries is asked in `dns_order` (LAST, SRV, A, AAAA), kept for its TTL
 * (or `dns_valid_ttl`), and asked again when that runs out. What each name resolves to is a list of
 * addresses; src/discovery/discovery.ts turns them into targets.
 *
 * - An answer (records, NXDOMAIN, no data) replaces what the name had: a record removed from the
 *   zone takes its target away at the next refresh. No record of any type: asked again after
 *   `dns_not_found_ttl`.
 * - A failure (timeout, SERVFAIL, REFUSED) keeps the last good addresses (stale-if-error) until
 *   `dns_stale_ttl` past their TTL, asking again every `dns_error_ttl`.
 * - A type that fails stops the walk through `dns_order` (the next type is not asked): a timeout of
 *   the SRV question must not turn a name served by SRV into its A records on other ports.
 * - SRV: each record's target host is resolved in turn (A/AAAA in `dns_order`); its port, weight and
 *   priority (ranked: the lowest value is level 0) come from the SRV record. The TTL is the
 *   smallest on the way.
 *
 * Refreshes run on the runtime's clock (tests drive it by hand with a fake query); questions go
 * through a `Query` (dns-client.ts against real servers).
 */
import type { Logger } from 'pino';
import type { DnsOrderItem, DnsSpec } from '../config/discovery.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { DnsRecord, Query, QueryType } from './dns-client.ts';

/** A TTL of 0 (Kong: resolve per request) is re-asked this often instead. */
export const DNS_MIN_REFRESH_MS = 1000;

export interface DnsAddress {
  readonly address: string;
  /** SRV: the record's port, weight, rank of its priority and target host; A/AAAA: null, null, 0, ''. */
  readonly port: number | null;
  readonly weight: number | null;
  readonly rank: number;
  readonly srvTarget: string;
}

export type Resolution =
  | {
      readonly kind: 'ok';
      readonly type: QueryType;
      readonly addresses: readonly DnsAddress[];
      readonly ttlMs: number;
    }
  | { readonly kind: 'empty' }
  | { readonly kind: 'error'; readonly why: string };

const addressTypes = (order: readonly DnsOrderItem[]): QueryType[] =>
  order.filter((t): t is 'A' | 'AAAA' => t === 'A' || t === 'AAAA');

/** Walk `order` for `name` (LAST first when known). */
export async function resolveName(
  name: string,
  order: readonly DnsOrderItem[],
  last: QueryType | null,
  query: Query,
): Promise<Resolution> {
  const types: QueryType[] = [];
  for (const t of order) {
    const q = t === 'LAST' ? last : t === 'CNAME' ? null : t;
    if (q !== null && !types.includes(q)) types.push(q);
  }
  for (const type of types) {
    const r = await query(name, type);
    if (r.kind === 'error') return { kind: 'error', why: `${type} ${name}: ${r.why}` };
    if (r.kind === 'empty') continue;
    if (type !== 'SRV') {
      const addresses = r.records.map((x) => ({
        address: x.data,
        port: null,
        weight: null,
        rank: 0,
        srvTarget: '',
      }));
      return { kind: 'ok', type, addresses, ttlMs: minTtlMs(r.records) };
    }
    return resolveSrv(r.records, order, query);
  }
  return { kind: 'empty' };
}

function minTtlMs(records: readonly DnsRecord[]): number {
  return Math.min(...records.map((r) => r.ttlS)) * 1000;
}

async function resolveSrv(
  srv: readonly DnsRecord[],
  order: readonly DnsOrderItem[],
  query: Query,
): Promise<Resolution> {
  const priorities = [...new Set(srv.map((r) => r.priority))].sort((a, b) => a - b);
  let ttlMs = minTtlMs(srv);
  const addresses: DnsAddress[] = [];
  const types = addressTypes(order);
  for (const rec of srv) {
    // An SRV record may point at an address literal (not RFC 2782, but seen in the wild).
    let found: DnsRecord[] | null = /^[\d.]+$|:/.test(rec.data)
      ? [{ ...rec, type: 'A', ttlS: rec.ttlS }]
      : null;
    for (const t of found === null ? (types.length > 0 ? types : (['A'] as QueryType[])) : []) {
      const r = await query(rec.data, t);
      if (r.kind === 'error') return { kind: 'error', why: `${t} ${rec.data}: ${r.why}` };
      if (r.kind === 'ok') {
        found = [...r.records];
        break;
      }
    }
    if (found === null) continue; // a target host without addresses serves nothing
    ttlMs = Math.min(ttlMs, minTtlMs(found));
    const weight = rec.weight === 0 ? 1 : rec.weight; // RFC 2782: 0 is "very small", not "none"
    for (const a of found)
      addresses.push({
        address: a.data,
        port: rec.port,
        weight,
        rank: priorities.indexOf(rec.priority),
        srvTarget: rec.data,
      });
  }
  return addresses.length > 0 ? { kind: 'ok', type: 'SRV', addresses, ttlMs } : { kind: 'empty' };
}

/** What one name resolves to now, for the merge and the admin API. */
export interface NameState {
  readonly name: string;
  addresses: readonly DnsAddress[];
  /** Wall-clock ms of the last answer that gave these addresses, or -1 before any. */
  lastSeenMs: number;
  /** The last failure, or null after an answer. */
  error: string | null;
  lastType: QueryType | null;
  /** monoMs until which the last good answer is fresh. */
  freshUntilMs: number;
  answered: boolean;
  timer: TimerHandle | null;
  stopped: boolean;
}

export interface DnsWatchDeps {
  readonly clock: Clock;
  readonly query: Query;
  readonly log: Logger;
  /** A name's addresses changed. */
  readonly onChange: (name: string) => void;
}

function sameAddresses(a: readonly DnsAddress[], b: readonly DnsAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]));
}

/** The names being resolved, each refreshed on its own timer. */
export class DnsWatch {
  private readonly names = new Map<string, NameState>();
  private readonly deps: DnsWatchDeps;
  private spec: DnsSpec;
  private waiters: (() => void)[] = [];

  constructor(spec: DnsSpec, deps: DnsWatchDeps) {
    this.spec = spec;
    this.deps = deps;
  }

  get(name: string): NameState | undefined {
    return this.names.get(name);
  }

  /** Resolve exactly these names: start the new ones, stop the others. */
  want(names: ReadonlySet<string>, spec: DnsSpec): void {
    this.spec = spec;
    for (const [n, st] of this.names)
      if (!names.has(n)) {
        st.stopped = true;
        if (st.timer !== null) this.deps.clock.clearTimer(st.timer);
        this.names.delete(n);
      }
    for (const n of names)
      if (!this.names.has(n)) {
        const st: NameState = {
          name: n,
          addresses: [],
          lastSeenMs: -1,
          error: null,
          lastType: null,
          freshUntilMs: 0,
          answered: false,
          timer: null,
          stopped: false,
        };
        this.names.set(n, st);
        void this.refresh(st);
      }
    this.wake();
  }

  /** Settles when every name wanted has had its first answer (or failure). */
  ready(): Promise<void> {
    if ([...this.names.values()].every((s) => s.answered)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    this.want(new Set(), this.spec);
  }

  private wake(): void {
    if (![...this.names.values()].every((s) => s.answered)) return;
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async refresh(st: NameState): Promise<void> {
    st.timer = null;
    const spec = this.spec;
    const r = await resolveName(st.name, spec.order, st.lastType, this.deps.query);
    if (st.stopped) return;
    const clock = this.deps.clock;
    const now = clock.monoMs();
    const before = st.addresses;
    let nextMs: number;
    if (r.kind === 'ok') {
      const ttl = spec.validTtlMs ?? r.ttlMs;
      st.addresses = r.addresses;
      st.lastType = r.type;
      st.lastSeenMs = clock.nowMs();
      st.freshUntilMs = now + ttl;
      if (st.error !== null) this.deps.log.info({ name: st.name }, 'DNS: the name resolves again');
      st.error = null;
      nextMs = Math.max(ttl, DNS_MIN_REFRESH_MS);
    } else if (r.kind === 'empty') {
      if (st.addresses.length > 0 || st.error === null)
        this.deps.log.warn(
          { name: st.name },
          `DNS: ${st.name} has no ${spec.order.join('/')} record; its targets are removed`,
        );
      st.addresses = [];
      st.error = 'no record';
      nextMs = spec.notFoundTtlMs;
    } else {
      const staleEnd = st.freshUntilMs + spec.staleTtlMs;
      if (st.error !== r.why)
        this.deps.log.warn(
          { name: st.name, cause: r.why, kept: st.addresses.length },
          `DNS: cannot resolve ${st.name} (${r.why}); ${st.addresses.length > 0 ? 'the last answer keeps serving' : 'no target yet'}`,
        );
      st.error = r.why;
      if (st.addresses.length > 0 && now >= staleEnd) {
        this.deps.log.warn(
          { name: st.name },
          `DNS: the last answer for ${st.name} is past dns_stale_ttl; its targets are removed`,
        );
        st.addresses = [];
      }
      nextMs = spec.errorTtlMs;
      if (st.addresses.length > 0) nextMs = Math.min(nextMs, Math.max(0, staleEnd - now));
    }
    st.timer = clock.setTimer(Math.max(nextMs, 1), onRefresh, { watch: this, st });
    const first = !st.answered;
    st.answered = true;
    if (!sameAddresses(before, st.addresses) || first) this.deps.onChange(st.name);
    this.wake();
  }

  /** For the timer: refresh a name still wanted. */
  static fire(a: { watch: DnsWatch; st: NameState }): void {
    if (!a.st.stopped) void a.watch.refresh(a.st);
  }
}

function onRefresh(a: { watch: DnsWatch; st: NameState }): void {
  DnsWatch.fire(a);
}
