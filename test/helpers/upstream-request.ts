/** A request for a target pool as the exchange would hand it (outgoing.ts), for pool-level tests. */
import { Buffer } from 'node:buffer';
import type { BodyChannel } from '../../src/proxy/body-channel.ts';
import type { UpstreamRequest } from '../../src/upstreams/upstream-call.ts';

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
