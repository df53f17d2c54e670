/**
 * An upstream's balancer stack: the algorithm configured from its declaration (configure.ts), made
 * zone-aware when the node has a zone its targets span (zones.ts), inside priority levels when the
 * targets have several (priority.ts). The one builder the proxy runtime, `fulcrum simulate` and the
 * client library share, so that none of them can leave a layer out.
 *
 * A stack's identity is the algorithm, the options it reads, and which layers apply with their
 * settings; while that holds, `update` hands the same balancers the new targets (tables carry over,
 * per level and zone); when it changes, the stack is built anew. The proxy runtime makes a new stack
 * for each configuration of an upstream, so that a build never touches the stack in service
 * (src/runtime/upstream-balancing.ts), and keeps it across slow-start updates; the simulator
 * keeps one across target changes. What must outlive a stack (round-robin's rotation, statistics)
 * lives on the targets. Slow start needs nothing here (balancers read TargetState.effectiveWeight);
 * sticky sessions sit before the picker (src/proxy/sticky.ts).
 */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { type BalancerSettings, factoryFor, relevantSettings } from './configure.ts';
import { levelCount, withPriorities } from './priority.ts';
import type { Balancer, Picker } from './types.ts';
import { withZones, zoneAware } from './zones.ts';

/** What the stack reads of an upstream (UpstreamSpec has these fields). */
export interface StackSpec {
  /** An algorithm id or alias. */
  readonly algorithm: string;
  readonly balancer: BalancerSettings;
  /** Read when the targets have several priority levels. */
  readonly overprovisioningFactor: number;
}

export interface StackDeps {
  readonly rng: Rng;
  readonly clock: Clock;
  /** The local zone (the node's `zone`), '' for none: zone awareness then never applies. */
  readonly zone: string;
}

/** What decides whether a running stack may be kept: the algorithm, its options, the layers. */
function identityOf(spec: StackSpec, zone: string, targets: readonly TargetState[]): string {
  const levels = levelCount(targets) > 1 ? String(spec.overprovisioningFactor) : '-';
  const zoned = zoneAware(zone, targets) ? zone : '-';
  return `${spec.algorithm}|${JSON.stringify(relevantSettings(spec.algorithm, spec.balancer))}|${levels}|${zoned}`;
}

export class BalancerStack implements Balancer {
  private readonly rng: Rng;
  private readonly clock: Clock;
  private spec: StackSpec;
  private zone: string;
  private identity = '';
  private balancer: Balancer | null = null;

  constructor(spec: StackSpec, deps: StackDeps) {
    this.rng = deps.rng;
    this.clock = deps.clock;
    this.spec = spec;
    this.zone = deps.zone;
  }

  /** New settings or a new local zone (a reload); the next `update` keeps what it can. */
  configure(spec: StackSpec, zone: string): void {
    this.spec = spec;
    this.zone = zone;
  }

  /**
   * A picker over these targets (their priority and zone decide the layers). Throws a RangeError
   * naming the field when the settings are out of range (validated settings never are).
   */
  update(targets: readonly TargetState[]): Picker {
    const id = identityOf(this.spec, this.zone, targets);
    if (this.balancer === null || id !== this.identity) {
      const base = factoryFor(this.spec.algorithm, this.spec.balancer);
      const inner = zoneAware(this.zone, targets) ? withZones(base, this.zone) : base;
      const factory =
        levelCount(targets) > 1 ? withPriorities(inner, this.spec.overprovisioningFactor) : inner;
      this.balancer = factory.create({ rng: this.rng, clock: this.clock });
      this.identity = id;
    }
    return this.balancer.update(targets);
  }
}
