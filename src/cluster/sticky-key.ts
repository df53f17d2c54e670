/**
 * One default sticky-cookie key for every node of a cluster (an upstream's `sticky` without
 * `secret`): the key lives in Redis at `<prefix>:sticky-key`. Each node offers the key it signs
 * with now (SET NX: the first offer wins) and adopts whatever the key holds, in one script, when
 * it starts and each time its connection to Redis is (re)established. So:
 *
 * - the first node of a cluster makes the key (its own random one), the others adopt it;
 * - a node started while Redis is away signs with its own random key (logged) and adopts the
 *   cluster's once Redis answers; cookies it signed meanwhile stay good on this node (the key it
 *   replaced is still accepted, and such a cookie is re-signed), not on the others;
 * - a Redis that lost its data gets the key back from the first node that reconnects (the key every
 *   node already signs with), so the cluster keeps one key.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import { adoptDefaultSecret, defaultSecret } from '../proxy/sticky.ts';
import { type Redis, ready } from './redis.ts';

/** KEYS: the key's key. ARGV: the key this node offers (hex). Returns the key in force. */
const OFFER = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`;

type Client = Redis & { fulcrumStickyKey(key: string, offer: string): Promise<string> };

export class SharedStickyKey {
  private readonly client: Client;
  private readonly key: string;
  private readonly log: () => Logger;
  /** Called with the new key (hex) when this node adopts another (a primary tells its workers). */
  onChange: ((hex: string) => void) | null = null;
  /** Whether the key in force is the cluster's (false until Redis first answered). */
  shared = false;

  constructor(o: { client: Redis; prefix: string; log: () => Logger }) {
    this.client = o.client as Client;
    this.client.defineCommand('fulcrumStickyKey', { numberOfKeys: 1, lua: OFFER });
    this.key = `${o.prefix}:sticky-key`;
    this.log = o.log;
    this.client.on('ready', () => void this.sync());
  }

  /** Adopt the cluster's key now (at start: before any sticky upstream serves), or say why not. */
  async sync(): Promise<void> {
    if (ready(this.client))
      try {
        const hex = await this.client.fulcrumStickyKey(this.key, defaultSecret().toString('hex'));
        if (/^[0-9a-f]{64}$/.test(hex)) {
          const changed = adoptDefaultSecret(Buffer.from(hex, 'hex'));
          if (changed || !this.shared)
            this.log().info(
              { changed },
              "sticky cookies: signing with the cluster's default key (sticky upstreams without secret)",
            );
          this.shared = true;
          if (changed) this.onChange?.(hex);
          return;
        }
      } catch {
        // Reported below; the next (re)connection tries again.
      }
    if (!this.shared)
      this.log().warn(
        "sticky cookies: Redis is away: signing with this node's own key until it answers (other nodes ignore such cookies)",
      );
  }
}
