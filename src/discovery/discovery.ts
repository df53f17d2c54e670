/**
 * Service discovery, one source of the configuration pipeline (docs/architecture.md): given the
 * snapshot the file or the admin API produced (the base), it runs the providers that snapshot asks
 * for (src/discovery/dns.ts for targets and services marked `resolve`, file-sd.ts for an upstream's
 * `file_sd`, registry-etcd.ts and registry-redis.ts for an upstream's `registry`) and hands out the base with those upstreams' targets filled in: a full snapshot, as
 * every source gives, which the node puts in service like any other.
 *
 * Nothing that did not change is rebuilt: an upstream whose discovered targets are the same keeps
 * its spec object (the generation build reuses what holds the same spec, src/runtime/generation.ts),
 * and a base without anything to discover is handed back as it is. Discovered targets are plain
 * targets from there on: health checks, slow start on arrival (the upstream existed), and on
 * departure the drain every removed target gets (new requests go elsewhere at the swap, requests in
 * flight finish on the generation they started on).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DnsSpec } from '../config/discovery.ts';
import { uuidFrom } from '../config/normalize.ts';
import type { Snapshot, TargetSpec, UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { formatHostPort } from '../core/net.ts';
import type { Rng } from '../core/random.ts';
import { DnsWatch } from './dns.ts';
import { DnsClient, type Query } from './dns-client.ts';
import { FileSdWatch, type ListedTarget } from './file-sd.ts';
import { withHostsFile } from './hosts-file.ts';
import { EtcdRegistry } from './registry-etcd.ts';
import { RedisRegistry, type RegistryRedis } from './registry-redis.ts';

/** Where a target of an upstream comes from, for the admin API. */
export interface TargetOrigin {
  readonly source: 'config' | 'dns' | 'file_sd' | 'registry';
  /**
   * The name resolved (`name` or `name -> srv target`), the file, or the registration's key
   * (`etcd <key>`, `redis <key>`); '' for a configured target.
   */
  readonly origin: string;
  /** Wall-clock ms of the last answer or read that gave it; null for a configured target. */
  readonly lastSeenMs: number | null;
}

export interface DiscoveryDeps {
  /** The runtime's clock: refresh timers (tests drive it by hand). */
  readonly clock: Clock;
  /** The real clock: DNS question timeouts. */
  readonly ioClock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  /** The merged snapshot changed: put `merged()` in service. */
  readonly onChange: () => void;
  /** Ask this instead of the servers of `dns_resolver` (unit tests). */
  readonly query?: Query;
  /** The cluster store's Redis, for `registry.redis`; null or absent on a node without one. */
  readonly clusterRedis?: RegistryRedis | null;
}

interface Memo {
  readonly base: UpstreamSpec;
  readonly key: string;
  readonly spec: UpstreamSpec;
  readonly origins: ReadonlyMap<string, TargetOrigin>;
}

const wantsDiscovery = (u: UpstreamSpec): boolean =>
  (u.fileSd !== undefined && u.fileSd !== null) ||
  u.registry === true ||
  u.targets.some((t) => t.resolve === true);

export class Discovery {
  private readonly deps: DiscoveryDeps;
  private base: Snapshot | null = null;
  private client: DnsClient | null = null;
  private clientKey = '';
  /** The client's query behind the hosts file of `dns_hostsfile`. */
  private query: Query | null = null;
  private readonly dns: DnsWatch;
  private readonly files = new Map<string, FileSdWatch>();
  private etcd: EtcdRegistry | null = null;
  private redis: RedisRegistry | null = null;
  private readonly memo = new Map<string, Memo>();
  private cached: Snapshot | null = null;
  /** The last merge and its base: a merge that comes out the same hands back the same object. */
  private last: { base: Snapshot; merged: Snapshot } | null = null;

  constructor(deps: DiscoveryDeps) {
    this.deps = deps;
    this.dns = new DnsWatch(emptyDns, {
      clock: deps.clock,
      log: deps.log,
      query: (name, type) => (deps.query ?? this.query!)(name, type),
      onChange: () => this.changed(),
    });
  }

  /** Take a new base snapshot: start and stop providers to match it; returns the merged snapshot. */
  setBase(base: Snapshot): Snapshot {
    this.base = base;
    this.cached = null;
    const dns = base.node.dns;
    const key = JSON.stringify([dns.resolvers, dns.hostsFile]);
    if (this.deps.query === undefined && (this.client === null || key !== this.clientKey)) {
      this.client?.close();
      const client = new DnsClient({ servers: dns.resolvers, clock: this.deps.ioClock, rng: this.deps.rng });
      this.client = client;
      this.query = dns.hostsFile === '' ? client.query : withHostsFile(dns.hostsFile, client.query);
      this.clientKey = key;
    }
    const names = new Set<string>();
    const dirs = new Map<string, UpstreamSpec>();
    for (const u of base.upstreams) {
      for (const t of u.targets) if (t.resolve === true) names.add(t.host);
      if (u.fileSd) dirs.set(u.name, u);
    }
    this.dns.want(names, dns);
    for (const [name, w] of this.files) {
      const u = dirs.get(name);
      if (u === undefined || JSON.stringify(u.fileSd) !== JSON.stringify(w.spec)) {
        w.close();
        this.files.delete(name);
      }
    }
    for (const [name, u] of dirs)
      if (!this.files.has(name))
        this.files.set(
          name,
          new FileSdWatch(u.fileSd!, {
            clock: this.deps.clock,
            log: this.deps.log,
            onChange: () => this.changed(),
          }),
        );
    this.wantRegistry(base);
    return this.merged();
  }

  /** Start, keep or stop the registry backends the node's `registry` names, when an upstream wants them. */
  private wantRegistry(base: Snapshot): void {
    const spec = base.node.registry;
    const wanted = base.upstreams.some((u) => u.registry === true);
    const etcd = wanted ? spec.etcd : null;
    if (this.etcd !== null && JSON.stringify(this.etcd.spec) !== JSON.stringify(etcd)) {
      this.etcd.close();
      this.etcd = null;
    }
    const deps = { clock: this.deps.clock, log: this.deps.log, onChange: () => this.changed() };
    if (etcd !== null && this.etcd === null) this.etcd = new EtcdRegistry(etcd, deps);
    const cluster = this.deps.clusterRedis ?? null;
    const redis = wanted && cluster !== null ? spec.redis : null;
    if (wanted && spec.redis !== null && cluster === null && this.redis === null)
      this.deps.log.error(
        'registry.redis needs the cluster store (`cluster` or --cluster): no Redis to read',
      );
    if (this.redis !== null && JSON.stringify(this.redis.spec) !== JSON.stringify(redis)) {
      this.redis.close();
      this.redis = null;
    }
    if (redis !== null && cluster !== null && this.redis === null)
      this.redis = new RedisRegistry(redis, cluster, deps);
  }

  /** Settles when every provider has answered once, or after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.deps.ioClock.setTimer(timeoutMs, resolve, undefined);
      const registries = [this.etcd?.ready(), this.redis?.ready()];
      void Promise.all([
        this.dns.ready(),
        ...[...this.files.values()].map((f) => f.ready()),
        ...registries,
      ]).then(() => {
        this.deps.ioClock.clearTimer(timer);
        resolve();
      });
    });
  }

  /** The base with every discovering upstream's targets filled in (the base itself when none). */
  merged(): Snapshot {
    const base = this.base;
    if (base === null) throw new Error('discovery has no base snapshot');
    if (this.cached !== null) return this.cached;
    let changed = false;
    const keys: string[] = [];
    const upstreams = base.upstreams.map((u) => {
      if (!wantsDiscovery(u)) {
        this.memo.delete(u.name);
        return u;
      }
      const m = this.mergeUpstream(u);
      keys.push(m.key);
      changed = true;
      return m.spec;
    });
    for (const name of this.memo.keys())
      if (!base.upstreams.some((u) => u.name === name)) this.memo.delete(name);
    const last = this.last;
    if (!changed) this.cached = base;
    else if (last !== null && last.base === base && last.merged.upstreams.every((x, i) => x === upstreams[i]))
      this.cached = last.merged;
    else {
      const digest = createHash('sha256').update(keys.join('\n')).digest('hex').slice(0, 8);
      this.cached = Object.freeze({ ...base, upstreams, hash: `${base.hash}+${digest}` });
    }
    this.last = { base, merged: this.cached };
    return this.cached;
  }

  /** Where each target of `upstream` comes from, or null when it discovers nothing. */
  origins(upstream: string): ReadonlyMap<string, TargetOrigin> | null {
    this.merged();
    return this.memo.get(upstream)?.origins ?? null;
  }

  /** Whether any name is resolved or directory read. */
  active(): boolean {
    return (
      this.files.size > 0 ||
      this.etcd !== null ||
      this.redis !== null ||
      (this.base?.upstreams.some((u) => u.targets.some((t) => t.resolve === true)) ?? false)
    );
  }

  /** What the providers see now (status). */
  status(): unknown {
    return {
      names: this.base?.upstreams
        .flatMap((u) => u.targets.filter((t) => t.resolve === true).map((t) => t.host))
        .filter((n, i, all) => all.indexOf(n) === i)
        .map((n) => {
          const st = this.dns.get(n);
          return {
            name: n,
            addresses: st?.addresses.length ?? 0,
            last_seen: st === undefined || st.lastSeenMs < 0 ? null : new Date(st.lastSeenMs).toISOString(),
            error: st?.error ?? null,
          };
        }),
      files: [...this.files].map(([u, w]) => ({
        upstream: u,
        directory: w.spec.directory,
        targets: w.targets().length,
        refused: w.errors(),
      })),
      ...(this.etcd === null && this.redis === null
        ? {}
        : { registry: { etcd: this.etcd?.status() ?? null, redis: this.redis?.status() ?? null } }),
    };
  }

  close(): void {
    this.dns.close();
    for (const w of this.files.values()) w.close();
    this.files.clear();
    this.etcd?.close();
    this.redis?.close();
    this.etcd = this.redis = null;
    this.client?.close();
    this.client = null;
  }

  private changed(): void {
    if (this.base === null) return;
    const before = this.cached;
    this.cached = null;
    if (this.merged() !== before) this.deps.onChange();
  }

  private mergeUpstream(u: UpstreamSpec): Memo {
    const targets: TargetSpec[] = [];
    const origins = new Map<string, TargetOrigin>();
    const add = (t: TargetSpec, o: TargetOrigin) => {
      if (origins.has(t.target)) return; // the first of a duplicate host:port wins: configured ones come first
      origins.set(t.target, o);
      targets.push(t);
    };
    const made = (
      target: string,
      host: string,
      port: number,
      rest: Omit<TargetSpec, 'id' | 'target' | 'host' | 'port'>,
    ) => Object.freeze({ id: uuidFrom('target', `${u.name}/${target}`), target, host, port, ...rest });
    for (const t of u.targets) {
      if (t.resolve !== true) {
        add(t, { source: 'config', origin: '', lastSeenMs: null });
        continue;
      }
      const st = this.dns.get(t.host);
      for (const a of st?.addresses ?? []) {
        const port = a.port ?? t.port;
        const target = formatHostPort(a.address, port);
        add(
          made(target, a.address, port, {
            weight: a.weight ?? t.weight,
            priority: Math.min(255, t.priority + a.rank),
            zone: t.zone,
            tags: t.tags,
            ...(a.srvTarget === '' ? {} : { srvName: a.srvTarget }),
          }),
          {
            source: 'dns',
            origin: a.srvTarget === '' ? t.host : `${t.host} -> ${a.srvTarget}`,
            lastSeenMs: st!.lastSeenMs,
          },
        );
      }
    }
    /** A target a file or a registration lists, with the defaults of a configured target. */
    const listed = (f: ListedTarget, o: TargetOrigin) =>
      add(
        made(f.target, f.host, f.port, {
          weight: f.weight ?? 100,
          priority: f.priority ?? 0,
          zone: f.zone ?? '',
          tags: f.tags,
        }),
        o,
      );
    for (const f of this.files.get(u.name)?.targets() ?? [])
      listed(f, { source: 'file_sd', origin: f.file, lastSeenMs: f.lastSeenMs });
    if (u.registry === true) {
      for (const [backend, r] of [
        ...(this.etcd?.targets(u.name) ?? []).map((r) => ['etcd', r] as const),
        ...(this.redis?.targets(u.name) ?? []).map((r) => ['redis', r] as const),
      ])
        listed(r, { source: 'registry', origin: `${backend} ${r.key}`, lastSeenMs: r.lastSeenMs });
    }
    const key = JSON.stringify(targets.map((t) => [t.target, t.weight, t.priority, t.zone, t.tags]));
    const prev = this.memo.get(u.name);
    const m: Memo =
      prev !== undefined && prev.base === u && prev.key === key
        ? { ...prev, origins }
        : { base: u, key, spec: Object.freeze({ ...u, targets: Object.freeze(targets) }), origins };
    this.memo.set(u.name, m);
    return m;
  }
}

const emptyDns: DnsSpec = {
  resolvers: [],
  order: ['A'],
  validTtlMs: null,
  staleTtlMs: 0,
  errorTtlMs: 1000,
  notFoundTtlMs: 1000,
  hostsFile: '',
};
