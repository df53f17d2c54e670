/**
 * The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's specification
 * (haproxy.org/download/2.9/doc/proxy-protocol.txt) defines them: parsing the header a trusted
 * balancer in front of Fulcrum sends (so the client's real address is used), and writing one to
 * targets that expect it (HAProxy's `send-proxy` / `send-proxy-v2`).
 *
 * Written by hand on purpose: the format is two short pages, the npm packages for it are either
 * v1-only or wrap the whole socket in their own stream class (which would cost a copy per chunk on
 * the data path), and a parser that sees untrusted bytes should be small enough to read whole.
 * Every length is checked against the bytes present; anything not in the specification is an error.
 */
import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';

/** v2 signature: \r\n\r\n\0\r\nQUIT\n. */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line, CRLF included (the specification's 107). */
export const V1_MAX_BYTES = 107;
/** The longest v2 header accepted: 16 + addresses and TLVs. The format allows 64 KiB; nobody sends that much. */
export const V2_MAX_BYTES = 16 + 4096;

export interface Tlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** `local`: a v2 health check from the balancer itself; the connection's own addresses apply. */
  readonly command: 'proxy' | 'local';
  /** `unknown`: v1 UNKNOWN, or v2 with an unspecified or UNIX family: the connection's own addresses apply. */
  readonly family: 'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unknown';
  readonly sourceIp: string;
  readonly sourcePort: number;
  readonly destIp: string;
  readonly destPort: number;
  readonly tlvs: readonly Tlv[];
}

export type ProxyResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'error'; readonly reason: string }
  /** `length`: bytes the header took; what follows is the client's. */
  | { readonly kind: 'ok'; readonly header: ProxyHeader; readonly length: number };

const NEED_MORE: ProxyResult = { kind: 'need-more' };
const err = (reason: string): ProxyResult => ({ kind: 'error', reason });

/** Whether `buf` begins like `prefix` as far as both go. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/** Parse a PROXY header (either version, detected) at the start of what has arrived so far. */
export function parseProxyHeader(buf: Buffer): ProxyResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === 0x50 /* P */) {
    if (!startsLike(buf, V1_PREFIX)) return err('not a PROXY protocol header');
    return parseV1(buf);
  }
  if (buf[0] === 0x0d) {
    if (!startsLike(buf, V2_SIGNATURE)) return err('not a PROXY protocol header');
    return parseV2(buf);
  }
  return err('not a PROXY protocol header');
}

const PORT_RE = /^(0|[1-9][0-9]{0,4})$/;

function parseV1(buf: Buffer): ProxyResult {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX_BYTES ? err('PROXY v1 line too long') : NEED_MORE;
  if (end + 2 > V1_MAX_BYTES) return err('PROXY v1 line too long');
  const line = buf.toString('latin1', 0, end);
  const f = line.split(' ');
  const local = { sourceIp: '', sourcePort: 0, destIp: '', destPort: 0, tlvs: [] };
  if (f[1] === 'UNKNOWN')
    return {
      kind: 'ok',
      length: end + 2,
      header: { version: 1, command: 'proxy', family: 'unknown', ...local },
    };
  if (f.length !== 6) return err('PROXY v1 line needs protocol, two addresses and two ports');
  const fam = f[1] === 'TCP4' ? 4 : f[1] === 'TCP6' ? 6 : 0;
  if (fam === 0) return err(`PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN`);
  const [, , src, dst, sp, dp] = f as [string, string, string, string, string, string];
  if (isIP(src) !== fam || isIP(dst) !== fam) return err('PROXY v1 address does not match the protocol');
  if (!PORT_RE.test(sp) || !PORT_RE.test(dp) || Number(sp) > 65535 || Number(dp) > 65535)
    return err('PROXY v1 port must be 0-65535');
  return {
    kind: 'ok',
    length: end + 2,
    header: {
      version: 1,
      command: 'proxy',
      family: fam === 4 ? 'tcp4' : 'tcp6',
      sourceIp: src,
      sourcePort: Number(sp),
      destIp: dst,
      destPort: Number(dp),
      tlvs: [],
    },
  };
}

function ipv6(b: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) parts.push(b.readUInt16BE(off + i * 2).toString(16));
  // Let Node's parser produce the canonical (compressed) form.
  return new URL(`http://[${parts.join(':')}]`).hostname.slice(1, -1);
}

function parseV2(buf: Buffer): ProxyResult {
  if (buf.length < 16) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return err('PROXY v2 version must be 2');
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return err('PROXY v2 command must be LOCAL or PROXY');
  const famByte = buf[13]!;
  const af = famByte >> 4;
  const proto = famByte & 0x0f;
  if (af > 3 || proto > 2) return err('PROXY v2 unknown address family or protocol');
  const len = buf.readUInt16BE(14);
  const total = 16 + len;
  if (total > V2_MAX_BYTES) return err('PROXY v2 header too large');
  if (buf.length < total) return NEED_MORE;
  const body = buf.subarray(16, total);
  const addrLen = af === 1 ? 12 : af === 2 ? 36 : af === 3 ? 216 : 0;
  if (body.length < addrLen) return err('PROXY v2 address block truncated');
  let family: ProxyHeader['family'] = 'unknown';
  let sourceIp = '';
  let destIp = '';
  let sourcePort = 0;
  let destPort = 0;
  if (af === 1 && proto !== 0) {
    family = proto === 1 ? 'tcp4' : 'udp4';
    sourceIp = `${body[0]}.${body[1]}.${body[2]}.${body[3]}`;
    destIp = `${body[4]}.${body[5]}.${body[6]}.${body[7]}`;
    sourcePort = body.readUInt16BE(8);
    destPort = body.readUInt16BE(10);
  } else if (af === 2 && proto !== 0) {
    family = proto === 1 ? 'tcp6' : 'udp6';
    sourceIp = ipv6(body, 0);
    destIp = ipv6(body, 16);
    sourcePort = body.readUInt16BE(32);
    destPort = body.readUInt16BE(34);
  }
  const tlvs: Tlv[] = [];
  let p = addrLen;
  while (p < body.length) {
    if (body.length - p < 3) return err('PROXY v2 TLV header truncated');
    const type = body[p]!;
    const l = body.readUInt16BE(p + 1);
    if (p + 3 + l > body.length) return err('PROXY v2 TLV overruns the header');
    tlvs.push({ type, value: Buffer.from(body.subarray(p + 3, p + 3 + l)) });
    p += 3 + l;
  }
  return {
    kind: 'ok',
    length: total,
    header: {
      version: 2,
      command: cmd === 0 ? 'local' : 'proxy',
      family: cmd === 0 ? 'unknown' : family,
      sourceIp,
      sourcePort,
      destIp,
      destPort,
      tlvs,
    },
  };
}

/** The addresses a header is written for (both of one family, else UNKNOWN / AF_UNSPEC is sent). */
export interface ProxyAddresses {
  readonly sourceIp: string;
  readonly sourcePort: number;
  readonly destIp: string;
  readonly destPort: number;
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** A v1 line: `PROXY TCP4 src dst sport dport\r\n`, or `PROXY UNKNOWN\r\n` when families differ. */
export function encodeV1(a: ProxyAddresses): Buffer {
  const s = unmapped(a.sourceIp);
  const d = unmapped(a.destIp);
  const fs = isIP(s);
  if (fs === 0 || fs !== isIP(d)) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${fs} ${s} ${d} ${a.sourcePort} ${a.destPort}\r\n`, 'latin1');
}

function writeIPv6(b: Buffer, off: number, ip: string): void {
  // Expand `::` and an embedded IPv4 tail into eight groups.
  let groups: string[];
  let tail: number[] = [];
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    text = `${ip.slice(0, v4.index)}${((tail[0]! << 8) | tail[1]!).toString(16)}:${((tail[2]! << 8) | tail[3]!).toString(16)}`;
  }
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    const head = text.slice(0, dbl).split(':').filter(Boolean);
    const rest = text
      .slice(dbl + 2)
      .split(':')
      .filter(Boolean);
    groups = [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  } else groups = text.split(':');
  for (let i = 0; i < 8; i++) b.writeUInt16BE(Number.parseInt(groups[i]!, 16), off + i * 2);
}

/** A v2 header, command PROXY over STREAM (AF_UNSPEC when the families differ), no TLVs. */
export function encodeV2(a: ProxyAddresses): Buffer {
  const s = unmapped(a.sourceIp);
  const d = unmapped(a.destIp);
  const fs = isIP(s);
  const same = fs !== 0 && fs === isIP(d);
  const addrLen = !same ? 0 : fs === 4 ? 12 : 36;
  const b = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(b, 0);
  b[12] = 0x21; // version 2, PROXY
  b[13] = !same ? 0x00 : fs === 4 ? 0x11 : 0x21; // INET/INET6 over STREAM
  b.writeUInt16BE(addrLen, 14);
  if (same && fs === 4) {
    s.split('.').forEach((o, i) => {
      b[16 + i] = Number(o);
    });
    d.split('.').forEach((o, i) => {
      b[20 + i] = Number(o);
    });
    b.writeUInt16BE(a.sourcePort, 24);
    b.writeUInt16BE(a.destPort, 26);
  } else if (same) {
    writeIPv6(b, 16, s);
    writeIPv6(b, 32, d);
    b.writeUInt16BE(a.sourcePort, 48);
    b.writeUInt16BE(a.destPort, 50);
  }
  return b;
}
