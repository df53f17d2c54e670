/**
 * The proxy listeners a node runs in this process, and what a configuration change does to them:
 * the listeners it no longer names stop accepting at once, new ones are bound before the change
 * goes any further (an address in use refuses the change, and what was bound for it closes), and
 * kept ones take their new settings only when the change is committed.
 */
import type { AddressInfo } from 'node:net';
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { createListener, type ProxyListener } from '../listeners/index.ts';
import { drainListeners } from './drain.ts';
import { BindError, listenerKey } from './node-options.ts';
import type { Runtime } from './runtime.ts';

/** What a change did to the listeners before it commits (PreparedChange). */
export interface ListenerChange {
  readonly listeners: ProxyListener[];
  readonly added: readonly ProxyListener[];
  readonly reconfigure: readonly (readonly [ProxyListener, ListenerSpec])[];
}

export class ListenerSet {
  private list: ProxyListener[] = [];
  private readonly runtime: Runtime;

  constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  get all(): readonly ProxyListener[] {
    return this.list;
  }

  /** Bind every listener `node` names (start-up); a BindError names the one that failed. */
  async bindAll(node: NodeSpec): Promise<void> {
    for (const spec of node.listeners) this.list.push(await this.bind(spec, node));
  }

  private async bind(spec: ListenerSpec, node: NodeSpec): Promise<ProxyListener> {
    const l = createListener(spec, node, this.runtime);
    await l.listen().catch((err: unknown) => {
      throw new BindError(spec.name, spec.protocol, spec.address, spec.port, err);
    });
    return l;
  }

  /**
   * The first half of a change to `node`'s listeners: dropped ones stop accepting, new ones are
   * bound. On a BindError the listeners bound for the change are closed and it is thrown.
   */
  async change(node: NodeSpec): Promise<ListenerChange> {
    const wanted = new Map(node.listeners.map((l) => [listenerKey(l), l]));
    const kept: ProxyListener[] = [];
    const added: ProxyListener[] = [];
    const reconfigure: [ProxyListener, ListenerSpec][] = [];
    for (const l of this.list) {
      const next = wanted.get(listenerKey(l.spec));
      if (next !== undefined) {
        reconfigure.push([l, next]);
        kept.push(l);
        wanted.delete(listenerKey(l.spec));
      } else void l.stopAccepting();
    }
    try {
      for (const spec of wanted.values()) {
        const l = await this.bind(spec, node);
        kept.push(l);
        added.push(l);
      }
    } catch (err) {
      for (const l of added) void l.stopAccepting();
      this.list = kept.filter((l) => !added.includes(l));
      throw err;
    }
    this.list = kept;
    return { listeners: kept, added, reconfigure };
  }

  /** The change is committed: kept listeners take their new settings. */
  commit(c: ListenerChange): void {
    for (const [l, spec] of c.reconfigure) l.reconfigure?.(spec);
  }

  /** The change is dropped: the listeners bound for it close. */
  abort(c: ListenerChange): void {
    for (const l of c.added) void l.stopAccepting();
    this.list = this.list.filter((l) => !c.added.includes(l));
  }

  addresses(): AddressInfo[] {
    return this.list.map((l) => l.address()).filter((a): a is AddressInfo => a !== null);
  }

  /** Graceful stop: stop accepting, wait for in-flight requests up to `drainMs`, then cut the rest. */
  async drain(drainMs: number, clock: Clock, onTimeout: () => void): Promise<'drained' | 'timeout'> {
    const outcome = await drainListeners(this.list, drainMs, clock);
    if (outcome === 'timeout') {
      onTimeout();
      for (const l of this.list) l.destroyAll();
    }
    return outcome;
  }
}
