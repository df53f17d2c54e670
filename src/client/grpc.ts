/**
 * `fulcrum/grpc`: a `fulcrum` load-balancing policy for @grpc/grpc-js, so a gRPC channel picks its
 * subchannel with Fulcrum's balancers. Built on grpc-js's public `experimental` API, the way its own
 * round_robin is (load-balancer-round-robin.ts): one LeafLoadBalancer (pick_first) per resolved
 * endpoint keeps a subchannel connected; a target is healthy while its subchannel is READY; each
 * pick asks the upstream's balancer stack (src/runtime/upstream-balancing.ts) for a target and
 * returns that leaf's pick, wrapped so the call's start and end feed the target's in-flight count,
 * latency and outcome (a call ending UNAVAILABLE counts as a transport failure).
 *
 * The policy's config is the file's upstream shape, without targets (the resolver gives the
 * addresses), in the channel's service config:
 * `{ loadBalancingConfig: [{ fulcrum: { algorithm: 'ring-hash', hash_on: 'header', hash_on_header: 'x-user' } }] }`.
 * Retries, deadlines and health checking stay grpc-js's (its own service-config features).
 */
import {
  type ChannelOptions,
  experimental,
  type Metadata,
  connectivityState as State,
  status as Status,
} from '@grpc/grpc-js';
import type { PickContext, Picker } from '../balancers/types.ts';
import type { UpstreamConfig } from '../config/file-types.ts';
import { ConfigError } from '../config/load.ts';
import type { UpstreamSpec } from '../config/types.ts';
import { systemClock } from '../core/clock.ts';
import { systemRng } from '../core/random.ts';
import { type BalancingState, buildUpstreamBalancing } from '../runtime/upstream-balancing.ts';
import { SlowStart } from '../upstreams/slow-start.ts';
import type { TargetState } from '../upstreams/target.ts';
import { clientSpecs } from './options.ts';

export const POLICY_NAME = 'fulcrum';

/** Where the policy's settings live, for messages. */
const SOURCE = `loadBalancingConfig.${POLICY_NAME}`;

type Endpoint = experimental.Endpoint;

/** Fields of the upstream shape that the channel, not the policy, looks after. */
const CHANNEL_OWNED = [
  'targets',
  'file_sd',
  'healthchecks',
  'circuit_breaker',
  'retry_budget',
  'sticky',
  'host_header',
];

class FulcrumLbConfig implements experimental.TypedLoadBalancingConfig {
  readonly raw: UpstreamConfig;
  readonly spec: UpstreamSpec;

  constructor(raw: UpstreamConfig, spec: UpstreamSpec) {
    this.raw = raw;
    this.spec = spec;
  }

  getLoadBalancerName(): string {
    return POLICY_NAME;
  }

  toJsonObject(): object {
    return { [POLICY_NAME]: this.raw };
  }

  /** Checked as the file's upstream (without targets); throws a ConfigError naming the field. */
  static createFromJson(obj: unknown): FulcrumLbConfig {
    const raw = { name: 'grpc', ...(obj as object) } as UpstreamConfig;
    const owned = CHANNEL_OWNED.filter((k) => k in raw);
    const sources = [raw.hash_on, raw.hash_fallback].filter(
      (s) => s !== undefined && s !== 'none' && s !== 'header',
    );
    if (owned.length > 0 || sources.length > 0)
      throw new ConfigError(
        [...owned, ...sources].map((k) => ({
          file: SOURCE,
          line: 0,
          column: 0,
          path: k,
          message: owned.includes(k)
            ? 'the channel looks after this (addresses come from the resolver; retries and health from the service config)'
            : 'a gRPC pick reads metadata: hash_on and hash_fallback may be "header" or "none"',
        })),
      );
    try {
      return new FulcrumLbConfig(raw, clientSpecs(raw, {}, []).upstream);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ConfigError(
        err.issues.map((i) => ({ ...i, file: SOURCE, path: i.path.replace(/^upstream\.?/, '') })),
      );
    }
  }
}

/** One endpoint: its pick_first child keeps a subchannel, its target is what the balancers see. */
interface Child {
  readonly key: string;
  readonly leaf: experimental.LeafLoadBalancer;
  target: TargetState | null;
}

/** The metadata value a hashing policy keys on (`hash_on_header`, then `hash_fallback_header`). */
function metadataKey(spec: UpstreamSpec, md: Metadata): string | null {
  for (const src of [spec.hashOn, spec.hashFallback]) {
    if (src.kind !== 'header') continue;
    const v = md.get(src.name);
    if (v.length > 0) return v.map(String).join(',');
  }
  return null;
}

class FulcrumPicker implements experimental.Picker {
  private readonly picker: Picker;
  private readonly byTarget: ReadonlyMap<TargetState, Child>;
  private readonly spec: UpstreamSpec;
  private readonly hashing: boolean;
  private readonly ctx: { clientIp: string; hashKey: string | null } = { clientIp: '', hashKey: null };

  constructor(picker: Picker, byTarget: ReadonlyMap<TargetState, Child>, spec: UpstreamSpec) {
    this.picker = picker;
    this.byTarget = byTarget;
    this.spec = spec;
    this.hashing = spec.hashOn.kind === 'header';
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const ctx = this.ctx;
    ctx.hashKey = this.hashing ? metadataKey(this.spec, args.metadata) : null;
    const t = this.picker.pick(ctx as PickContext, null);
    const child = t === null ? undefined : this.byTarget.get(t);
    if (t === null || child === undefined)
      return {
        pickResultType: experimental.PickResultType.QUEUE,
        subchannel: null,
        status: null,
        onCallStarted: null,
        onCallEnded: null,
      };
    const r = child.leaf.getPicker().pick(args);
    if (r.pickResultType !== experimental.PickResultType.COMPLETE) return r;
    let startedMs = -1;
    return {
      ...r,
      onCallStarted: () => {
        startedMs = systemClock.monoMs();
        t.start();
        r.onCallStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        if (startedMs >= 0) {
          const now = systemClock.monoMs();
          t.observeLatency(now - startedMs, now);
          t.done(code !== Status.UNAVAILABLE);
          startedMs = -1;
        }
        r.onCallEnded?.(code, details, metadata);
      },
    };
  }
}

class FulcrumLoadBalancer implements experimental.LoadBalancer {
  private readonly helper: experimental.ChannelControlHelper;
  private readonly childHelper: experimental.ChannelControlHelper;
  private children = new Map<string, Child>();
  private config: FulcrumLbConfig | null = null;
  private picker: Picker | null = null;
  private paused = false;
  private readonly live: BalancingState;

  constructor(helper: experimental.ChannelControlHelper) {
    this.helper = helper;
    this.childHelper = experimental.createChildChannelControlHelper(helper, {
      updateState: () => this.refresh(),
    });
    this.live = {
      targets: new Map(),
      balancers: new Map(),
      affinity: new Map(),
      slowStart: new SlowStart(systemClock, () => this.rebuild()),
      rng: systemRng,
      clock: systemClock,
    };
  }

  updateAddressList(
    endpoints: experimental.StatusOr<Endpoint[]>,
    config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    note: string,
  ): boolean {
    if (!(config instanceof FulcrumLbConfig)) return false;
    if (!endpoints.ok) {
      if (this.children.size === 0)
        this.helper.updateState(
          State.TRANSIENT_FAILURE,
          new experimental.UnavailablePicker(endpoints.error),
          endpoints.error.details,
        );
      return true;
    }
    this.config = config;
    const next = new Map<string, Child>();
    for (const e of endpoints.value) {
      const key = experimental.subchannelAddressToString(e.addresses[0]!);
      next.set(
        key,
        this.children.get(key) ?? {
          key,
          leaf: new experimental.LeafLoadBalancer(e, this.childHelper, options, note),
          target: null,
        },
      );
    }
    for (const [key, c] of this.children) if (!next.has(key)) c.leaf.destroy();
    this.children = next;
    this.paused = true;
    for (const c of next.values()) c.leaf.startConnecting();
    this.paused = false;
    this.rebuild();
    return true;
  }

  /** Targets from the endpoints, through the same builder as the proxy and the dispatcher. */
  private rebuild(): void {
    const config = this.config;
    if (config === null) return;
    const targets = [...this.children.keys()].map((target) => ({
      id: target,
      target,
      host: target,
      port: 0,
      weight: 100,
      priority: 0,
      zone: '',
      tags: [],
    }));
    const built = buildUpstreamBalancing({ ...config.spec, targets }, '', this.live);
    const keep = new Set(built.targets.map((t) => t.key));
    for (const key of this.live.targets.keys()) if (!keep.has(key)) this.live.targets.delete(key);
    const children = [...this.children.values()];
    built.targets.forEach((t, i) => {
      children[i]!.target = t;
    });
    this.picker = built.picker;
    this.refresh();
  }

  /** Subchannel states → target health, and the channel's state and picker. */
  private refresh(): void {
    if (this.paused || this.picker === null || this.config === null) return;
    const byTarget = new Map<TargetState, Child>();
    let ready = 0;
    let connecting = 0;
    for (const c of this.children.values()) {
      const s = c.leaf.getConnectivityState();
      if (s === State.IDLE) c.leaf.exitIdle();
      if (c.target === null) continue;
      byTarget.set(c.target, c);
      c.target.setHealthy(s === State.READY);
      if (s === State.READY) ready++;
      else if (s === State.CONNECTING || s === State.IDLE) connecting++;
    }
    if (ready > 0)
      this.helper.updateState(State.READY, new FulcrumPicker(this.picker, byTarget, this.config.spec), null);
    else if (connecting > 0)
      this.helper.updateState(State.CONNECTING, new experimental.QueuePicker(this), null);
    else
      this.helper.updateState(
        State.TRANSIENT_FAILURE,
        new experimental.UnavailablePicker({ details: 'fulcrum: no subchannel is ready' }),
        'fulcrum: no subchannel is ready',
      );
  }

  exitIdle(): void {
    for (const c of this.children.values()) c.leaf.exitIdle();
  }

  resetBackoff(): void {}

  destroy(): void {
    for (const c of this.children.values()) c.leaf.destroy();
    this.children.clear();
    this.live.slowStart.stop();
  }

  getTypeName(): string {
    return POLICY_NAME;
  }
}

/** Registers the `fulcrum` policy with grpc-js (once; later calls do nothing). */
export function registerFulcrumPolicy(): void {
  if (!experimental.isLoadBalancerNameRegistered(POLICY_NAME))
    experimental.registerLoadBalancerType(POLICY_NAME, FulcrumLoadBalancer, FulcrumLbConfig);
}

/**
 * A `grpc.service_config` channel option value using the policy with these upstream settings,
 * checked now: grpc-js skips a load-balancing config it cannot parse (logging it at DEBUG only) and
 * falls back to its default policy, so a mistake would otherwise go unseen. Throws a ConfigError.
 */
export function fulcrumServiceConfig(upstream: Omit<UpstreamConfig, 'name' | 'targets'>): string {
  FulcrumLbConfig.createFromJson(upstream);
  return JSON.stringify({ loadBalancingConfig: [{ [POLICY_NAME]: upstream }] });
}
