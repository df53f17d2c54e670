/**
 * Header hygiene between client and target (RFC 9110 §7.6.1, §7.6.3), applied while the fields
 * are copied, so that what the proxy does not change is never made into strings:
 * hop-by-hop fields never cross the proxy (Connection and every field it names, Keep-Alive, TE
 * other than `trailers`, Trailer, Transfer-Encoding (the proxy frames anew), Upgrade, Expect,
 * Proxy-*), X-Forwarded-* are appended to only when the previous hop is a trusted proxy and
 * replaced otherwise, and Via is appended in both directions.
 *
 * The fields go to a FieldSink: an HTTP/1.1 head being written (bytes copied as they came), or a
 * list of strings for an HTTP/2 target.
 */
import type { ServiceSpec, UpstreamSpec } from '../config/types.ts';
import type { Fields } from '../http1/fields.ts';
import type { HeadWriter } from '../http1/head-writer.ts';
import { H, isHopByHop } from '../http1/syntax.ts';

/** Where forwarded fields go. */
export interface FieldSink {
  /** Fields `from` to `to` (exclusive) of `f`, as they came. */
  copy(f: Fields, from: number, to: number): void;
  /** A field the proxy adds (checked when it did not make the value itself: `trusted` false). */
  add(name: string, value: string, trusted: boolean): void;
}

/** Into an HTTP/1.1 head. */
export class HeadSink implements FieldSink {
  w: HeadWriter;
  constructor(w: HeadWriter) {
    this.w = w;
  }
  copy(f: Fields, from: number, to: number): void {
    f.writeLines(this.w, from, to);
  }
  add(name: string, value: string, trusted: boolean): void {
    if (trusted) this.w.trustedField(name, value);
    else this.w.field(name, value);
  }
}

/** Into a [name, value, ...] list. */
export class FlatSink implements FieldSink {
  readonly out: string[] = [];
  copy(f: Fields, from: number, to: number): void {
    for (let i = from; i < to; i++) this.out.push(f.rawName(i), f.value(i));
  }
  add(name: string, value: string, _trusted = true): void {
    this.out.push(name, value);
  }
}

export interface ForwardFacts {
  /** Host header sent to the target. */
  readonly host: string;
  readonly clientIp: string;
  /** Whether the previous hop is a trusted proxy whose X-Forwarded-* we extend. */
  readonly trusted: boolean;
  readonly proto: string;
  readonly listenerPort: number;
  /** The client's Host (or :authority), for X-Forwarded-Host and Forwarded. */
  readonly clientHost: string;
  readonly requestIdHeader: string;
  readonly requestId: string;
  readonly via: boolean;
  readonly forwarded: boolean;
}

/** Fields the proxy sets itself on the way to the target (the client's are dropped). */
const REWRITTEN = new Uint8Array(32);
for (const id of [
  H.HOST,
  H.X_FORWARDED_FOR,
  H.X_FORWARDED_PROTO,
  H.X_FORWARDED_HOST,
  H.X_FORWARDED_PORT,
  H.X_REAL_IP,
  H.FORWARDED,
  H.VIA,
  // The framing is the proxy's own (it knows the body it sends).
  H.CONTENT_LENGTH,
])
  REWRITTEN[id] = 1;

function named(f: Fields, i: number, list: readonly string[] | null): boolean {
  if (list === null) return false;
  for (const n of list) if (f.nameIs(i, n)) return true;
  return false;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/**
 * The request fields for the target, in this order: Host, the client's kept fields (less
 * hop-by-hop, rewritten, and those `drop` names: fields plugins replaced or the proxy sets itself),
 * TE, X-Forwarded-*, X-Real-IP, Forwarded, Via, the request id. Plugin and framing fields are the
 * caller's to add after.
 */
export function forwardRequestFields(
  sink: FieldSink,
  f: Fields,
  facts: ForwardFacts,
  connectionNamed: readonly string[] | null,
  drop: ((f: Fields, i: number) => boolean) | null,
): void {
  // Host: the client's (validated by the codec) or the configuration's (validated at load).
  sink.add('host', facts.host, true);
  const te = copyClientFields(sink, f, facts.requestIdHeader, connectionNamed, drop);
  if (te) sink.add('te', 'trailers', true);
  addForwarding(sink, f, facts);
  if (facts.requestIdHeader !== '') sink.add(facts.requestIdHeader, facts.requestId, true);
}

/** The client's fields that go on as they came; returns whether it offered `TE: trailers`. */
export function copyClientFields(
  sink: FieldSink,
  f: Fields,
  rid: string,
  connectionNamed: readonly string[] | null,
  drop: ((f: Fields, i: number) => boolean) | null,
): boolean {
  const ids = f.ids;
  let te = false;
  // Kept fields go in runs (one copy of consecutive lines of the client's head).
  let run = -1;
  for (let i = 0; i < ids.length; i++) {
    if (keepRequestField(f, i, ids[i]!, rid, connectionNamed, drop)) {
      if (run < 0) run = i;
      continue;
    }
    if (ids[i] === H.TE && /(^|,)\s*trailers\s*(;|,|$)/i.test(f.value(i))) te = true;
    if (run >= 0) {
      sink.copy(f, run, i);
      run = -1;
    }
  }
  if (run >= 0) sink.copy(f, run, ids.length);
  return te;
}

/**
 * Whether the forwarding fields depend on the connection and the Host alone (the client is not a
 * trusted proxy, and sent no Via to append to): then they are the same for every request of the
 * connection to the same Host, and an HTTP/1.1 connection keeps them ready (exchange.ts).
 */
export function forwardingCacheable(f: Fields, facts: ForwardFacts): boolean {
  return !facts.trusted && (!facts.via || f.indexOfId(H.VIA) < 0);
}

/** X-Forwarded-*, X-Real-IP, Forwarded and Via. */
export function addForwarding(sink: FieldSink, f: Fields, facts: ForwardFacts): void {
  const t = facts.trusted;
  const xff = t ? f.get('x-forwarded-for') : undefined;
  sink.add('x-forwarded-for', xff ? `${xff}, ${facts.clientIp}` : facts.clientIp, !xff);
  const proto = t ? first(f, 'x-forwarded-proto') : undefined;
  sink.add('x-forwarded-proto', proto || facts.proto, !proto);
  const fhost = (t && first(f, 'x-forwarded-host')) || facts.clientHost;
  sink.add('x-forwarded-host', fhost, false);
  const port = t ? first(f, 'x-forwarded-port') : undefined;
  sink.add('x-forwarded-port', port || String(facts.listenerPort), !port);
  sink.add('x-real-ip', facts.clientIp, true);
  if (facts.forwarded) {
    const mine = `for=${forwardedNode(facts.clientIp)};host=${JSON.stringify(facts.clientHost)};proto=${facts.proto}`;
    const prev = t ? f.get('forwarded') : undefined;
    sink.add('forwarded', prev ? `${prev}, ${mine}` : mine, false);
  }
  if (facts.via) {
    const prev = f.get('via');
    sink.add('via', prev ? `${prev}, 1.1 fulcrum` : '1.1 fulcrum', !prev);
  }
}

/** Whether a client's field goes on to the target as it came (see forwardRequestFields). */
function keepRequestField(
  f: Fields,
  i: number,
  id: number,
  rid: string,
  connectionNamed: readonly string[] | null,
  drop: ((f: Fields, i: number) => boolean) | null,
): boolean {
  if (id !== H.OTHER && (isHopByHop(id) || REWRITTEN[id] === 1)) return false;
  if (connectionNamed !== null && named(f, i, connectionNamed)) return false;
  if (rid !== '' && f.nameIs(i, rid)) return false;
  return drop === null || !drop(f, i);
}

function first(f: Fields, name: string): string | undefined {
  const i = f.indexOf(name);
  return i < 0 ? undefined : f.value(i);
}

/**
 * Whether a target's response field goes on to the client: not hop-by-hop, not named by its
 * Connection field; Trailer only when trailers may follow (`keepTrailer`); Content-Length unless
 * the body is re-encoded (`keepLength` false: compression, a JSON rewrite).
 */
export function keepResponseField(
  f: Fields,
  i: number,
  connectionNamed: readonly string[] | null,
  keepTrailer: boolean,
  keepLength: boolean,
  dropVia = false,
): boolean {
  const id = f.ids[i]!;
  if (id !== H.OTHER) {
    if (id === H.TRAILER) return keepTrailer;
    if (id === H.VIA) return !dropVia;
    if (id === H.CONTENT_LENGTH) return keepLength;
    if (isHopByHop(id)) return false;
  }
  return connectionNamed === null || !named(f, i, connectionNamed);
}

/** Remove Content-Length from a field list (a body re-encoded by a plugin goes chunked). */
export function dropContentLength(list: string[]): void {
  for (let i = list.length - 2; i >= 0; i -= 2)
    if (list[i]!.length === 14 && list[i]!.toLowerCase() === 'content-length') list.splice(i, 2);
}

/** The response's kept fields as a [name, value, ...] list (for plugins' header_filter). */
export function responseFieldList(
  f: Fields,
  connectionNamed: readonly string[] | null,
  keepTrailer: boolean,
  keepLength: boolean,
  dropVia: boolean,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < f.count; i++)
    if (keepResponseField(f, i, connectionNamed, keepTrailer, keepLength, dropVia))
      out.push(f.rawName(i), f.value(i));
  return out;
}

/** The response's Via with ours appended (its own fields joined, as one list). */
export function mergedVia(f: Fields): string {
  const prev = f.get('via');
  return prev === undefined ? '1.1 fulcrum' : `${prev}, 1.1 fulcrum`;
}

/**
 * The Host header sent to the target unless the route preserves the client's: the upstream's
 * `host_header`; else the service's host (with `:port` when a plain hostname service uses a
 * non-default port), as Kong does.
 */
export function upstreamHost(service: ServiceSpec, upstream: UpstreamSpec): string {
  if (upstream.hostHeader) return upstream.hostHeader;
  return upstream.implicit && service.port !== (service.protocol === 'https' ? 443 : 80)
    ? `${service.host}:${service.port}`
    : service.host;
}

/**
 * The Link fields of a 103 Early Hints worth relaying (other 1xx answers are the proxy's own
 * business): each value a list of `<uri>; params` (RFC 8288). Hints are optional, so a malformed
 * value is dropped rather than forwarded.
 */
export function earlyHintLinks(f: Fields): string[] {
  const out: string[] = [];
  for (let i = 0; i < f.count; i++) {
    if (!f.nameIs(i, 'link')) continue;
    const v = f.value(i);
    if (LINK_VALUE.test(v)) out.push('link', v);
  }
  return out;
}

/** One or more `<uri-reference>` with `; param` or `; param=value` after each, comma-separated. */
const LINK_VALUE =
  /^\s*<[^<>\s]*>(\s*;\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*=\s*("[^"]*"|[^",;\s]+))?)*(\s*,\s*<[^<>\s]*>(\s*;\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*=\s*("[^"]*"|[^",;\s]+))?)*)*\s*$/;
