/**
 * The `grpc` / `grpcs` probe: the gRPC health checking protocol (grpc.health.v1.Health/Check,
 * github.com/grpc/grpc/blob/master/doc/health-checking.md) over a fresh HTTP/2 connection, as
 * Envoy's grpc_health_check and NGINX Plus's `type=grpc` do. The request and the response are
 * one-field protobuf messages, so they are encoded and decoded here by hand instead of through a
 * protobuf library:
 *
 *   message HealthCheckRequest  { string service = 1; }          // tag 0x0a, length, UTF-8
 *   message HealthCheckResponse { ServingStatus status = 1; }    // tag 0x08, varint
 *   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
 *
 * each inside gRPC's length-prefixed frame (1 byte compressed flag, 4 bytes big-endian length).
 * Outcomes: SERVING is a success (`connected`); a non-200 `:status` is that status (classified by
 * the http_statuses lists); a non-zero `grpc-status`, or any other serving status, is a `mismatch`
 * (an HTTP failure); a connection or stream that fails before an answer is `tcp`.
 */
import { Buffer } from 'node:buffer';
import { connect, constants } from 'node:http2';
import type { ActiveCheckSpec } from '../config/healthchecks.ts';
import { PROBE_READ_LIMIT_BYTES, type ProbeControl, type ProbeTarget } from './probe-kit.ts';

/** Headers HTTP/2 forbids (connection-specific) or that become :authority: not sent as metadata. */
const H2_FORBIDDEN = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const SERVING_STATUS = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** A framed HealthCheckRequest{service}. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  // proto3 leaves a default (empty) string out.
  const msg =
    name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Read a varint at `at`: [value, next offset], or undefined when cut short. */
function readVarint(b: Buffer, at: number): [number, number] | undefined {
  let v = 0;
  let shift = 0;
  for (let i = at; i < b.length && shift < 64; i++) {
    const byte = b[i]!;
    if (shift < 32) v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return [v, i + 1];
  }
  return undefined;
}

/**
 * The status of a framed HealthCheckResponse (UNKNOWN when the field is absent, as proto3 omits a
 * zero), or undefined when the bytes are not one (cut short, compressed, malformed). Unknown fields
 * are skipped, as protobuf requires.
 */
export function decodeHealthCheckResponse(frame: Buffer): number | undefined {
  if (frame.length < 5 || frame[0] !== 0) return undefined;
  const len = frame.readUInt32BE(1);
  if (frame.length < 5 + len) return undefined;
  const msg = frame.subarray(5, 5 + len);
  let status: number = SERVING_STATUS.UNKNOWN;
  let at = 0;
  while (at < msg.length) {
    const tag = readVarint(msg, at);
    if (tag === undefined) return undefined;
    const [key, next] = tag;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    at = next;
    if (wire === 0) {
      const v = readVarint(msg, at);
      if (v === undefined) return undefined;
      if (field === 1) status = v[0];
      at = v[1];
    } else if (wire === 2) {
      const l = readVarint(msg, at);
      if (l === undefined) return undefined;
      at = l[1] + l[0];
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return undefined;
    if (at > msg.length) return undefined;
  }
  return status;
}

export function startGrpcProbe(
  spec: ActiveCheckSpec,
  authority: string,
  t: ProbeTarget,
  ctl: ProbeControl,
): void {
  const tls = spec.type === 'grpcs';
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const session = connect(`${tls ? 'https' : 'http'}://${host}:${t.port}`, {
    ...(tls
      ? {
          rejectUnauthorized: spec.httpsVerifyCertificate,
          ALPNProtocols: ['h2'],
          ...(spec.httpsSni !== undefined ? { servername: spec.httpsSni } : {}),
        }
      : {}),
  });
  session.unref();
  ctl.onCleanup(() => session.destroy());
  session.on('error', () => ctl.finish('tcp'));
  session.on('close', () => ctl.finish('tcp'));
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(spec.headers)) if (!H2_FORBIDDEN.has(k)) headers[k] = [...v];
  Object.assign(headers, {
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: HEALTH_CHECK_PATH,
    [constants.HTTP2_HEADER_AUTHORITY]: authority,
    [constants.HTTP2_HEADER_SCHEME]: tls ? 'https' : 'http',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  headers['user-agent'] ??= 'fulcrum-health-check';
  let stream: ReturnType<typeof session.request>;
  try {
    stream = session.request(headers, { endStream: false });
  } catch {
    // A header value HTTP/2 refuses: the probe cannot be sent, which a checker must survive.
    ctl.finish('tcp');
    return;
  }
  stream.on('error', () => ctl.finish('tcp'));
  let status = 0;
  let grpcStatus: string | undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('response', (h) => {
    status = Number(h[constants.HTTP2_HEADER_STATUS] ?? 0);
    // A trailers-only answer (an error) carries grpc-status in the headers.
    const gs = h['grpc-status'];
    if (gs !== undefined) grpcStatus = String(gs);
    if (status !== 200) ctl.finish(status);
  });
  stream.on('trailers', (h) => {
    const gs = h['grpc-status'];
    if (gs !== undefined) grpcStatus = String(gs);
  });
  stream.on('data', (c: Buffer) => {
    if (size >= PROBE_READ_LIMIT_BYTES) return;
    chunks.push(c);
    size += c.length;
  });
  stream.on('end', () => {
    if (status !== 200) return ctl.finish(status === 0 ? 'tcp' : status);
    if (grpcStatus !== '0') return ctl.finish('mismatch');
    const serving = decodeHealthCheckResponse(Buffer.concat(chunks));
    ctl.finish(serving === SERVING_STATUS.SERVING ? 'connected' : 'mismatch');
  });
  stream.end(encodeHealthCheckRequest(spec.grpcService));
}
