/**
 * A small DNS stub client: one question to the configured servers over UDP (TCP when the answer is
 * truncated), answers with their TTLs. The wire format is the `dns-packet` package's.
 *
 * Why not node:dns: `Resolver.resolve4/6({ ttl: true })` give TTLs, but `resolveSrv` does not, and
 * an SRV answer's TTL is what decides when its ports and weights are asked again; c-ares also
 * follows its own timers and retries. Asking the servers ourselves gives every record type its TTL,
 * the rcode (NXDOMAIN is an answer, SERVFAIL a failure: stale-if-error needs the difference), and
 * timeouts on the injected clock.
 *
 * `dns-packet` is loaded at the first question: a node whose targets are all addresses never asks.
 */
import { Buffer } from 'node:buffer';
import { createSocket, type Socket } from 'node:dgram';
import { getServers } from 'node:dns';
import { createRequire } from 'node:module';
import { connect, isIP } from 'node:net';
import type dnsPacket from 'dns-packet';
import type { DnsServer } from '../config/discovery.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';

let codecLoaded: typeof dnsPacket | null = null;
/** The wire codec (a CommonJS package, loaded synchronously once). */
function wire(): typeof dnsPacket {
  codecLoaded ??= createRequire(import.meta.url)('dns-packet') as typeof dnsPacket;
  return codecLoaded;
}

/** Per try, and how many rounds over the servers before the question fails. */
export const DNS_QUERY_TIMEOUT_MS = 2000;
export const DNS_QUERY_ROUNDS = 2;
/** An answer over TCP larger than this is refused (a name with thousands of records is an error). */
const MAX_TCP_ANSWER_BYTES = 65_535;

export type QueryType = 'A' | 'AAAA' | 'SRV';

export interface DnsRecord {
  readonly type: string;
  readonly name: string;
  readonly ttlS: number;
  /** A/AAAA: the address. SRV: the target host. */
  readonly data: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
}

/**
 * `ok`: records of the type asked (aliases followed by the server); `empty`: NXDOMAIN or no record
 * of that type (an answer); `error`: no usable answer (timeout, SERVFAIL, REFUSED, garbage).
 */
export type QueryResult =
  | { readonly kind: 'ok'; readonly records: readonly DnsRecord[] }
  | { readonly kind: 'empty'; readonly rcode: string }
  | { readonly kind: 'error'; readonly why: string };

export type Query = (name: string, type: QueryType) => Promise<QueryResult>;

interface Pending {
  readonly name: string;
  readonly type: QueryType;
  readonly server: DnsServer;
  readonly resolve: (r: QueryResult | null) => void;
  readonly timer: TimerHandle;
}

/** The servers of /etc/resolv.conf, as node:dns read them. */
export function systemServers(): DnsServer[] {
  return getServers().map((s) => {
    const m = /^\[(.+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
    return m === null ? { host: s, port: 53 } : { host: m[1]!, port: Number(m[2]) };
  });
}

export class DnsClient {
  private readonly servers: readonly DnsServer[];
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly timeoutMs: number;
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(opts: { servers: readonly DnsServer[]; clock: Clock; rng: Rng; timeoutMs?: number }) {
    this.servers = opts.servers.length > 0 ? opts.servers : systemServers();
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.timeoutMs = opts.timeoutMs ?? DNS_QUERY_TIMEOUT_MS;
  }

  /** Ask each server in turn, DNS_QUERY_ROUNDS times round, until one answers. */
  readonly query: Query = async (name, type) => {
    let last: QueryResult = { kind: 'error', why: 'no DNS server configured' };
    for (let round = 0; round < DNS_QUERY_ROUNDS; round++)
      for (const server of this.servers) {
        if (this.closed) return { kind: 'error', why: 'closed' };
        const r = await this.once(name, type, server);
        if (r.kind !== 'error') return r;
        last = r;
      }
    return last;
  };

  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      this.clock.clearTimer(p.timer);
      p.resolve({ kind: 'error', why: 'closed' });
    }
    this.pending.clear();
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private async once(name: string, type: QueryType, server: DnsServer): Promise<QueryResult> {
    const udp = await this.udp(name, type, server);
    if (udp !== null) return udp;
    return this.tcp(name, type, server);
  }

  /** null: the answer was truncated (ask over TCP). */
  private udp(name: string, type: QueryType, server: DnsServer): Promise<QueryResult | null> {
    let id = Math.floor(this.rng.next() * 65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const codec = wire();
    const buf = codec.encode({
      type: 'query',
      id,
      flags: codec.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' }],
    });
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(this.timeoutMs, onTimeout, { client: this, id });
      this.pending.set(id, { name, type, server, resolve, timer });
      this.socket(isIP(server.host) === 6 ? 6 : 4).send(buf, server.port, server.host, (err) => {
        if (err) this.settle(id, { kind: 'error', why: err.message });
      });
    });
  }

  private socket(family: 4 | 6): Socket {
    let s = this.sockets.get(family);
    if (s !== undefined) return s;
    s = createSocket(family === 6 ? 'udp6' : 'udp4');
    s.unref();
    s.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    s.on('error', () => {});
    this.sockets.set(family, s);
    return s;
  }

  private onMessage(msg: Buffer, address: string, port: number): void {
    let p: ReturnType<typeof dnsPacket.decode>;
    try {
      p = wire().decode(msg);
    } catch {
      return; // garbage: the timeout answers for it
    }
    const pending = p.id === undefined ? undefined : this.pending.get(p.id);
    // Only the server asked may answer, and only the question asked (RFC 5452).
    if (pending === undefined || address !== pending.server.host || port !== pending.server.port) return;
    const q = p.questions?.[0];
    if (q === undefined || q.name.toLowerCase() !== pending.name.toLowerCase() || q.type !== pending.type)
      return;
    if (p.flag_tc) return this.settle(p.id!, null);
    this.settle(p.id!, interpret(p, pending.type));
  }

  settle(id: number, r: QueryResult | null): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    this.clock.clearTimer(p.timer);
    p.resolve(r);
  }

  private tcp(name: string, type: QueryType, server: DnsServer): Promise<QueryResult> {
    return new Promise((resolve) => {
      const sock = connect({ host: server.host, port: server.port });
      let done = false;
      const finish = (r: QueryResult) => {
        if (done) return;
        done = true;
        this.clock.clearTimer(timer);
        sock.destroy();
        resolve(r);
      };
      const timer = this.clock.setTimer(this.timeoutMs, finish, {
        kind: 'error',
        why: 'timeout (tcp)',
      } as const);
      const chunks: Buffer[] = [];
      let size = 0;
      sock.on('connect', () => {
        const id = Math.floor(this.rng.next() * 65536);
        const codec = wire();
        sock.write(
          codec.streamEncode({
            type: 'query',
            id,
            flags: codec.RECURSION_DESIRED,
            questions: [{ type, name, class: 'IN' }],
          }),
        );
      });
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        if (size > MAX_TCP_ANSWER_BYTES + 2) return finish({ kind: 'error', why: 'answer too large' });
        const all = Buffer.concat(chunks);
        if (all.length < 2 || all.length < 2 + all.readUInt16BE(0)) return;
        try {
          finish(interpret(wire().decode(all.subarray(2, 2 + all.readUInt16BE(0))), type));
        } catch {
          finish({ kind: 'error', why: 'malformed answer (tcp)' });
        }
      });
      sock.on('error', (err) => finish({ kind: 'error', why: err.message }));
      sock.on('close', () => finish({ kind: 'error', why: 'connection closed (tcp)' }));
    });
  }
}

function onTimeout(a: { client: DnsClient; id: number }): void {
  a.client.settle(a.id, { kind: 'error', why: 'timeout' });
}

/** The records of the type asked, or why there are none. */
function interpret(p: ReturnType<typeof dnsPacket.decode>, type: QueryType): QueryResult {
  const rcode = (p as { rcode?: string }).rcode ?? 'NOERROR';
  if (rcode === 'NXDOMAIN') return { kind: 'empty', rcode };
  if (rcode !== 'NOERROR') return { kind: 'error', why: rcode };
  const records: DnsRecord[] = [];
  for (const a of p.answers ?? []) {
    if (a.type !== type) continue; // CNAMEs on the way are followed by the server
    const ttlS = a.ttl ?? 0;
    if (a.type === 'SRV') {
      const d = a.data;
      records.push({
        type,
        name: a.name,
        ttlS,
        data: d.target.replace(/\.$/, '').toLowerCase(),
        port: d.port,
        weight: d.weight ?? 0,
        priority: d.priority ?? 0,
      });
    } else if (a.type === 'A' || a.type === 'AAAA')
      records.push({ type, name: a.name, ttlS, data: a.data, port: 0, weight: 0, priority: 0 });
  }
  return records.length > 0 ? { kind: 'ok', records } : { kind: 'empty', rcode: 'NODATA' };
}
