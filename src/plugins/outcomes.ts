/**
 * What plugins decided, counted per plugin and outcome (`fulcrum_plugin_outcomes_total`) and named
 * for the access log's `reason` (`key-auth: invalid-credentials`). The chain records an outcome
 * when a hook answers the request itself, when an authentication plugin sets a consumer, and when
 * a hook throws; the plugins only label their replies (`LocalReply.reason`). A reply without a
 * label is named by its status, so a new plugin is counted without doing anything.
 *
 * Each (plugin, outcome) pair gets its counter child and its text the first time it happens, then
 * a Map lookup: a flood of refused requests allocates nothing.
 */
import { type Counter, CounterChild } from '../observability/registry.ts';
import type { LocalReply } from './types.ts';

/** The outcome of a reply that carries no `reason`: by its status. */
export function outcomeOfStatus(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate-limited';
  if (status === 413) return 'too-large';
  if (status >= 500) return 'error';
  if (status >= 400) return 'rejected';
  return 'answered';
}

export interface Outcome {
  readonly counter: CounterChild;
  /** `<plugin>: <outcome>`, the access log's `reason`. */
  readonly text: string;
}

/** One plugin instance's outcomes (several instances of a plugin share the series). */
export class PluginOutcomes {
  private readonly plugin: string;
  private readonly metric: Counter | null;
  private readonly seen = new Map<string, Outcome>();

  constructor(plugin: string, metric: Counter | null) {
    this.plugin = plugin;
    this.metric = metric;
  }

  get(outcome: string): Outcome {
    let o = this.seen.get(outcome);
    if (o === undefined) {
      o = {
        counter: this.metric?.labels({ plugin: this.plugin, outcome }) ?? new CounterChild(),
        text: `${this.plugin}: ${outcome}`,
      };
      this.seen.set(outcome, o);
    }
    return o;
  }

  /** Count a reply the plugin answered with; the text for the access log. */
  reply(r: LocalReply): string {
    const o = this.get(r.reason ?? outcomeOfStatus(r.status));
    o.counter.inc();
    return o.text;
  }

  count(outcome: string): void {
    this.get(outcome).counter.inc();
  }
}
