/** A request for a target pool as the exchange would hand it (outgoing.ts), and a pool to a
 * target on 127.0.0.1, for pool-level tests. */
import { Buffer } from 'node:buffer';
import { ManualClock } from '../../src/core/clock.ts';
import type { BodyChannel } from '../../src/proxy/body-channel.ts';
import { H1Pool } from '../../src/upstreams/h1-pool.ts';
import type { UpstreamRequest } from '../../src/upstreams/upstream-call.ts';

/** A cleartext pool to 127.0.0.1:`port`, no connection limit, its deadlines on a clock that stays put. */
export function localPool(port: number): H1Pool {
  return new H1Pool({
    host: '127.0.0.1',
    port,
    tls: null,
    connectTimeoutMs: 5000,
    maxConnections: 0,
    keepAliveMs: 60_000,
    clock: new ManualClock(0),
  });
}

/** `head`: the whole request head as text; `body` sent as it is (not coded in chunks). */
export function upstreamRequest(head: string, body: Buffer | BodyChannel | null = null): UpstreamRequest {
  return {
    method: head.slice(0, head.indexOf(' ')),
    head: Buffer.from(head, 'latin1'),
    path: '/',
    fields: null,
    body,
    encodeChunks: false,
    upgrade: false,
    headOnly: false,
    servername: '',
    readTimeoutMs: 10_000,
    writeTimeoutMs: 10_000,
  };
}
