/**
 * Plugin chains, compiled per route when a generation is built, and the per-request runner.
 *
 * Precedence (Kong's): for one plugin name, the instance with the most specific scope that applies
 * to the request wins, in this order: consumer+route+service, consumer+route, consumer+service,
 * route+service, consumer, route, service, global. Everything but the consumer is known at build
 * time, so each route's chain holds per plugin name the best instance without a consumer (`base`)
 * and, only when consumer-scoped instances exist, the winner per consumer id (`byConsumer`). At
 * request time resolving an instance is one Map lookup once a consumer is known, none otherwise.
 *
 * A route whose chain would be empty gets `null`: the exchange pays one null check per phase.
 */
import type { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConsumerSpec, PluginSpec, RouteSpec, ServiceSpec, Snapshot } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { inCidrList, unmapIPv4 } from '../core/net.ts';
import { finish, type Steps } from '../core/pace.ts';
import type { Rng } from '../core/random.ts';
import type { Fields } from '../http1/fields.ts';
import type { Counter } from '../observability/registry.ts';
import type { RequestTrace } from '../observability/trace-hooks.ts';
import type { Downstream } from '../proxy/downstream.ts';
import { ConsumerIndex, type Credential } from './consumers.ts';
import { PluginOutcomes } from './outcomes.ts';
import type { SharedCounters } from './rate-limit-policy.ts';
import { pluginsByPriority } from './registry.ts';
import { BufferedBody } from './request-body.ts';
import {
  type AccessResult,
  type AnyPlugin,
  type BuildEnv,
  isWait,
  type LocalReply,
  type PluginRequest,
  type ResponseHead,
  type Wait,
} from './types.ts';

/** Waits one request's access phase may take (a hook that keeps asking is a bug, not a loop). */
const MAX_WAITS = 8;

interface Instance {
  readonly spec: PluginSpec;
  readonly def: AnyPlugin;
  readonly built: unknown;
  readonly outcomes: PluginOutcomes;
}

interface Slot {
  readonly def: AnyPlugin;
  readonly base: Instance | null;
  readonly byConsumer: ReadonlyMap<string, Instance> | null;
}

export interface Chain {
  readonly set: PluginSet;
  /** In priority order (highest first). */
  readonly slots: readonly Slot[];
}

/** Kong's precedence rank of an instance for a route and service (lower wins); -1: does not apply. */
function rank(p: PluginSpec, routeId: string, service: string, consumer: string | null): number {
  if (p.route !== null && p.route !== routeId) return -1;
  if (p.service !== null && p.service !== service) return -1;
  if (p.consumer !== null && p.consumer !== consumer) return -1;
  const r = p.route !== null;
  const s = p.service !== null;
  if (p.consumer !== null) return r && s ? 1 : r ? 2 : s ? 3 : 5;
  return r && s ? 4 : r ? 6 : s ? 7 : 8;
}

function best(list: readonly Instance[], routeId: string, service: string, consumer: string | null) {
  let win: Instance | null = null;
  let winRank = 99;
  for (const i of list) {
    const k = rank(i.spec, routeId, service, consumer);
    if (k > 0 && k < winRank) {
      win = i;
      winRank = k;
    }
  }
  return win;
}

interface Scoped {
  readonly byRoute: Map<string, Instance[]>;
  readonly byService: Map<string, Instance[]>;
  readonly rest: Instance[];
}

function scoped(list: readonly Instance[]): Scoped {
  const out: Scoped = { byRoute: new Map(), byService: new Map(), rest: [] };
  const add = (m: Map<string, Instance[]>, k: string, i: Instance) => {
    const l = m.get(k);
    if (l) l.push(i);
    else m.set(k, [i]);
  };
  for (const i of list)
    if (i.spec.route !== null) add(out.byRoute, i.spec.route, i);
    else if (i.spec.service !== null) add(out.byService, i.spec.service, i);
    else out.rest.push(i);
  return out;
}

/** The instances that may apply to a route of a service (rank() still decides). */
function candidates(s: Scoped, routeId: string, service: string): readonly Instance[] {
  const r = s.byRoute.get(routeId);
  const v = s.byService.get(service);
  if (r === undefined && v === undefined) return s.rest;
  return [...(r ?? []), ...(v ?? []), ...s.rest];
}

export interface PluginSetDeps {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly trusted: BlockList | null;
  readonly state: Map<string, unknown>;
  /**
   * Queue a change to live state for the swap (BuildEnv.atSwap: a generation's SwapPlan); absent,
   * the set goes into service as it is built (unit tests), and the change is made at once.
   */
  readonly atSwap?: (step: () => void) => void;
  /** Rate-limit counts shared beyond this process (BuildEnv.counters). */
  readonly counters?: SharedCounters | null;
  /** fulcrum_plugin_outcomes_total (outcomes.ts); absent in unit tests. */
  readonly outcomes?: Counter;
}

/** Every enabled plugin instance of a snapshot, built once per generation. */
export class PluginSet {
  readonly consumers: ConsumerIndex;
  readonly trusted: BlockList | null;
  /**
   * Per plugin name, its instances by the route they name, else by the service they name, else
   * the rest: a route's chain looks only at what can apply to it (scanning every instance for
   * every route would be quadratic in a configuration of thousands of route-scoped plugins).
   */
  private readonly byName = new Map<string, Scoped>();

  constructor(
    snapshot: Snapshot,
    deps: PluginSetDeps,
    /** false: leave the instances to fill() (PluginSet.build paces it). */
    fill = true,
  ) {
    this.consumers = new ConsumerIndex(snapshot.consumers);
    this.trusted = deps.trusted;
    if (fill) finish(this.fill(snapshot, deps));
  }

  /** Build every instance, yielding after each, so a generation build can let traffic run. */
  static *build(snapshot: Snapshot, deps: PluginSetDeps): Steps<PluginSet> {
    const set = new PluginSet(snapshot, deps, false);
    yield;
    yield* set.fill(snapshot, deps);
    return set;
  }

  private *fill(snapshot: Snapshot, deps: PluginSetDeps): Steps<void> {
    const used = new Set<string>();
    const env: BuildEnv = {
      clock: deps.clock,
      rng: deps.rng,
      consumers: this.consumers,
      trusted: deps.trusted,
      counters: deps.counters ?? null,
      atSwap: deps.atSwap ?? ((step) => step()),
      state<T>(key: string, make: () => T): T {
        used.add(key);
        let s = deps.state.get(key) as T | undefined;
        if (s === undefined) {
          s = make();
          deps.state.set(key, s);
        }
        return s;
      },
    };
    const specs = new Map<string, PluginSpec[]>();
    for (const spec of snapshot.plugins) {
      if (!spec.enabled) continue;
      const l = specs.get(spec.name);
      if (l) l.push(spec);
      else specs.set(spec.name, [spec]);
    }
    for (const def of pluginsByPriority()) {
      const list: Instance[] = [];
      let outcomes: PluginOutcomes | null = null;
      for (const spec of specs.get(def.name) ?? []) {
        outcomes ??= new PluginOutcomes(def.name, deps.outcomes ?? null);
        list.push({ spec, def, built: def.build(spec.config, env, spec.id), outcomes });
        yield;
      }
      if (list.length > 0) this.byName.set(def.name, scoped(list));
    }
    // State no instance asked for this time (instance removed, or its identity changed) goes.
    for (const key of deps.state.keys()) if (!used.has(key)) deps.state.delete(key);
  }

  /** The chain of one route, or null when no plugin applies to it. */
  chainFor(route: RouteSpec, service: ServiceSpec | null): Chain | null {
    const slots: Slot[] = [];
    const serviceName = service?.name ?? '';
    for (const def of pluginsByPriority()) {
      const scopedList = this.byName.get(def.name);
      if (scopedList === undefined) continue;
      const list = candidates(scopedList, route.id, serviceName);
      const base = best(list, route.id, serviceName, null);
      const baseRank = base === null ? 99 : rank(base.spec, route.id, serviceName, null);
      // Per consumer, its best own instance against the base (a consumer-scoped instance that
      // applies outranks the base or not by rank alone): one pass, not a scan per consumer.
      let own: Map<string, { win: Instance; rank: number }> | null = null;
      for (const i of list) {
        const c = i.spec.consumer;
        if (c === null) continue;
        const k = rank(i.spec, route.id, serviceName, c);
        if (k <= 0 || k >= baseRank) continue;
        own ??= new Map();
        const seen = own.get(c);
        if (seen === undefined || k < seen.rank) own.set(c, { win: i, rank: k });
      }
      let byConsumer: Map<string, Instance> | null = null;
      if (own !== null) {
        byConsumer = new Map();
        for (const [c, { win }] of own) byConsumer.set(c, win);
      }
      if (base !== null || byConsumer !== null) slots.push({ def, base, byConsumer });
    }
    return slots.length === 0 ? null : { set: this, slots };
  }
}

function resolve(s: Slot, consumer: ConsumerSpec | null): Instance | null {
  if (consumer === null || s.byConsumer === null) return s.base;
  return s.byConsumer.get(consumer.id) ?? s.base;
}

/** What a PluginRun reads of its request: the exchange that owns it. */
export interface PluginHost {
  readonly clientIp: string;
  readonly down: Downstream;
  /** The request's trace, whose server span gets an event per phase (null: tracing off). */
  readonly trace?: RequestTrace | null;
}

/** One request's pass through a chain: the PluginRequest the hooks see, and the phase runners. */
export class PluginRun implements PluginRequest {
  readonly socketIp: string;
  readonly path: string;
  query: string;
  readonly route: RouteSpec;
  readonly service: ServiceSpec;
  consumer: ConsumerSpec | null = null;
  credential: Credential | null = null;
  readonly consumers: ConsumerIndex;
  serviceOverride: string | null = null;
  encoder: Duplex | null = null;
  /** A body limit in bytes set by request-size-limiting (0: none); the exchange enforces it as the body streams. */
  bodyLimit = 0;
  /**
   * Why a plugin answered the request itself (`key-auth: invalid-credentials`, `rate-limiting:
   * rate-limited`), for the access log's `reason`; null when none did.
   */
  rejection: string | null = null;
  /** The hook running now, to blame when it throws. */
  private running: Instance | null = null;
  /** Headers the hooks added to the client's response, flat [name, value, ...]. */
  responseHeaders: string[] | null = null;
  /**
   * Request fields the hooks set (a value) or removed (null): flat [name, value, ...], each
   * lower-case name once; null when none. A list, not a Map: a request has a handful (the six
   * X-Consumer-* of an authentication plugin), and a scan of them costs less than hashing.
   */
  edits: (string | null)[] | null = null;
  /** The body a hook put in place of the client's, or null. */
  replacedBody: Buffer | null = null;
  /** Whether a plugin that ran has a body_filter hook (else the exchange's calls cost one check). */
  filtersBody = false;
  /**
   * Whether the target's response head must go through headerFilter(): a plugin that ran has a
   * header_filter hook, or the request is traced (its span records the phase). Otherwise the
   * exchange writes the target's fields as they came, with `responseHeaders` added.
   */
  get filtersHead(): boolean {
    return this.headHooks || this.trace !== null;
  }
  private headHooks = false;
  private readonly chain: Chain;
  private readonly down: Downstream;
  /** Instances resolved in the access phase, in order: the later phases run these. */
  private readonly ran: Instance[] = [];
  private real: string | null = null;
  private scratch: Map<string, unknown> | null = null;
  private obj: IncomingHttpHeaders | null = null;
  /** The request body buffered for the hooks (request-body.ts), or null when none asked for it. */
  bufferedBody: BufferedBody | null = null;
  /** Where a waiting access phase resumes: the phase (0 rewrite, 1 access) and the slot. */
  private stage = 0;
  private next = 0;
  private resumed = false;
  private waits = 0;
  private readonly trace: RequestTrace | null;

  constructor(
    chain: Chain,
    host: PluginHost,
    path: string,
    query: string,
    route: RouteSpec,
    service: ServiceSpec,
  ) {
    this.chain = chain;
    this.down = host.down;
    this.socketIp = host.clientIp;
    this.path = path;
    this.query = query;
    this.route = route;
    this.service = service;
    this.consumers = chain.set.consumers;
    this.trace = host.trace ?? null;
  }

  get method(): string {
    return this.down.method;
  }

  get url(): string {
    return this.down.target;
  }

  get hasBody(): boolean {
    return this.down.body !== null;
  }

  get headers(): IncomingHttpHeaders {
    if (this.obj !== null) return this.obj;
    const o = { ...this.down.fields.toObject() } as Record<string, string | string[] | undefined>;
    const e = this.edits;
    if (e !== null)
      for (let i = 0; i < e.length; i += 2) {
        const k = e[i]!;
        const v = e[i + 1]!;
        if (v === null) delete o[k];
        else o[k] = v;
      }
    this.obj = o as IncomingHttpHeaders;
    return this.obj;
  }

  header(name: string): string | undefined {
    const k = this.editAt(name);
    if (k >= 0) return this.edits![k + 1] ?? undefined;
    return this.down.fields.get(name);
  }

  /** The index of `name` in `edits`, or -1. */
  private editAt(name: string): number {
    const e = this.edits;
    if (e !== null) for (let i = 0; i < e.length; i += 2) if (e[i] === name) return i;
    return -1;
  }

  /** Whether the client's field `i` is one a hook set or removed (it does not go on as it came). */
  edited(f: Fields, i: number): boolean {
    const e = this.edits;
    if (e !== null) for (let k = 0; k < e.length; k += 2) if (f.nameIs(i, e[k]!)) return true;
    return false;
  }

  realIp(): string {
    if (this.real !== null) return this.real;
    let ip = this.socketIp;
    const trusted = this.chain.set.trusted;
    const xff = this.header('x-forwarded-for');
    if (trusted !== null && xff !== undefined && inCidrList(trusted, ip)) {
      const hops = xff.split(',');
      // Walk from the nearest hop; stop at the first address that is not a trusted proxy.
      for (let i = hops.length - 1; i >= 0 && i >= hops.length - 32; i--) {
        const h = unmapIPv4(hops[i]!.trim());
        if (h === '') break;
        ip = h;
        if (!inCidrList(trusted, h)) break;
      }
    }
    this.real = ip;
    return ip;
  }

  data(name: string): unknown {
    return this.scratch === null ? undefined : this.scratch.get(name);
  }

  setData(name: string, value: unknown): void {
    if (this.scratch === null) this.scratch = new Map();
    this.scratch.set(name, value);
  }

  setRequestHeader(name: string, value: string | null): void {
    const k = this.editAt(name);
    if (k >= 0) this.edits![k + 1] = value;
    else if (this.edits === null) this.edits = [name, value];
    else this.edits.push(name, value);
    if (this.obj !== null) {
      const o = this.obj as Record<string, string | string[] | undefined>;
      if (value === null) delete o[name];
      else o[name] = value;
    }
  }

  addResponseHeader(name: string, value: string): void {
    if (this.responseHeaders === null) this.responseHeaders = [name, value];
    else this.responseHeaders.push(name, value);
  }

  requestBody(limit: number): Buffer | null | Wait {
    let b = this.bufferedBody;
    if (b === null) {
      const ch = this.down.body;
      if (ch === null) return null;
      b = new BufferedBody(ch, limit);
      this.bufferedBody = b;
    }
    if (b.state === 'reading') return { wait: b.done };
    return b.state === 'complete' ? b.body() : null;
  }

  setRequestBody(body: Buffer): void {
    const b = this.bufferedBody;
    if (b !== null && b.state === 'complete') b.replaced = body;
    else if (!(b === null && this.down.body === null)) return;
    this.replacedBody = body;
  }

  /**
   * The rewrite then the access phase; a LocalReply stops the chain and answers the request. A Wait
   * is handed to the exchange, which calls access() again once it settles: the phase resumes at
   * the hook that waited.
   */
  access(): AccessResult {
    const trace = this.trace;
    if (trace === null) return this.accessPhase();
    const from = this.ran.length;
    const startMs = trace.nowMs();
    const out = this.accessPhase();
    const outcome = out === null ? 'continue' : isWait(out) ? 'wait' : `reply ${out.status}`;
    trace.pluginPhase('access', startMs, this.names(from, 'access'), outcome);
    return out;
  }

  /** The names of the instances run from `from` on that have `hook` (a trace event's list). */
  private names(from: number, hook: 'access' | 'headerFilter' | 'log'): string[] {
    const out: string[] = [];
    for (let i = from; i < this.ran.length; i++) {
      const def = this.ran[i]!.def;
      if (hook === 'access' || def[hook] !== undefined) out.push(def.name);
    }
    return out;
  }

  private accessPhase(): AccessResult {
    try {
      return this.runAccess();
    } catch {
      // A failing hook must not take the process down, nor let the request through unchecked.
      this.hookErrors++;
      if (this.running !== null) this.rejection = this.running.outcomes.reply(UNEXPECTED);
      return UNEXPECTED;
    }
  }

  /** The name of the consumer the request authenticated as, for the access log; null when none. */
  consumerName(): string | null {
    const c = this.consumer;
    return c === null ? null : (c.username ?? c.customId ?? c.id);
  }

  /** Hook failures in this request (header, body and log hooks that throw are skipped). */
  hookErrors = 0;

  private runAccess(): AccessResult {
    const slots = this.chain.slots;
    if (this.stage === 0) {
      for (let i = this.next; i < slots.length; i++) {
        const s = slots[i]!;
        if (s.def.rewrite === undefined || s.base === null) continue;
        this.running = s.base;
        const out = s.def.rewrite(this, s.base.built);
        if (out !== null) return isWait(out) ? this.waitAt(i, out) : this.answered(s.base, out);
      }
      this.stage = 1;
      this.next = 0;
    }
    for (let i = this.next; i < slots.length; i++) {
      const s = slots[i]!;
      const inst = resolve(s, this.consumer);
      if (inst === null) continue;
      // The hook that waited runs again; it was recorded the first time.
      if (this.resumed && i === this.next) this.resumed = false;
      else {
        this.ran.push(inst);
        if (inst.def.bodyFilter !== undefined) this.filtersBody = true;
        if (inst.def.headerFilter !== undefined) this.headHooks = true;
      }
      if (inst.def.access === undefined) continue;
      this.running = inst;
      const consumer = this.consumer;
      const out = inst.def.access(this, inst.built);
      if (out !== null) return isWait(out) ? this.waitAt(i, out) : this.answered(inst, out);
      // An authentication plugin that set a consumer: counted as it authenticated or fell back.
      if (inst.def.noConsumer && this.consumer !== consumer)
        inst.outcomes.count(this.credential === null ? 'anonymous' : 'authenticated');
    }
    return null;
  }

  /** A hook answered the request itself: count its outcome, keep the reason for the access log. */
  private answered(inst: Instance, reply: LocalReply): LocalReply {
    this.rejection = inst.outcomes.reply(reply);
    return reply;
  }

  private waitAt(slot: number, w: Wait): AccessResult {
    if (++this.waits > MAX_WAITS) {
      this.hookErrors++;
      return UNEXPECTED;
    }
    this.next = slot;
    this.resumed = this.stage === 1;
    return w;
  }

  /** header_filter on a response head (a target's, or a local reply's), after the added headers. */
  headerFilter(status: number, headers: string[], local: boolean): void {
    const trace = this.trace;
    const startMs = trace === null ? 0 : trace.nowMs();
    this.headerPhase(status, headers, local);
    if (trace !== null)
      trace.pluginPhase('header_filter', startMs, this.names(0, 'headerFilter'), 'continue');
  }

  private headerPhase(status: number, headers: string[], local: boolean): void {
    const add = this.responseHeaders;
    if (add !== null) for (let i = 0; i < add.length; i++) headers.push(add[i]!);
    const head: ResponseHead = { status, headers, local };
    for (const inst of this.ran)
      if (inst.def.headerFilter !== undefined)
        try {
          inst.def.headerFilter(this, inst.built, head);
        } catch {
          this.hookErrors++;
        }
  }

  /** body_filter: a relayed chunk of the target's response, or null at its end. */
  bodyFilter(chunk: Buffer | null): void {
    if (!this.filtersBody) return;
    for (const inst of this.ran)
      if (inst.def.bodyFilter !== undefined)
        try {
          inst.def.bodyFilter(this, inst.built, chunk);
        } catch {
          this.hookErrors++;
        }
  }

  log(status: number): void {
    const trace = this.trace;
    const startMs = trace === null ? 0 : trace.nowMs();
    this.logPhase(status);
    if (trace !== null) trace.pluginPhase('log', startMs, this.names(0, 'log'), 'continue');
  }

  private logPhase(status: number): void {
    for (const inst of this.ran)
      if (inst.def.log !== undefined)
        try {
          inst.def.log(this, inst.built, status);
        } catch {
          this.hookErrors++;
        }
  }
}

/** Kong's answer when a plugin fails. */
const UNEXPECTED: LocalReply = { status: 500, body: { message: 'An unexpected error occurred' } };
