/** Address helpers: parse `host:port`, CIDR lists, normalize IPv4-mapped IPv6 addresses. */
import { BlockList, isIP } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/;

export function isHostname(s: string): boolean {
  return HOSTNAME_RE.test(s) || isIP(s) !== 0;
}

/**
 * Whether a Host header (or an HTTP/2 :authority) is `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986
 * §3.2.2): an IP literal in brackets, or reg-name characters (unreserved, sub-delims, `%`), and
 * digits after a colon. Like nginx's ngx_http_validate_host, also refuses empty hosts and `..`.
 * A request whose Host fails this is answered 400 and never forwarded.
 */
export function isValidHostHeader(h: string): boolean {
  let i = 0;
  const n = h.length;
  if (n === 0) return false;
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    if (end < 2) return false;
    for (i = 1; i < end; i++) {
      const c = h.charCodeAt(i);
      const hex = (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
      if (!hex && c !== 58 /* : */ && c !== 46 /* . */) return false;
    }
    i = end + 1;
  } else {
    for (; i < n; i++) {
      const c = h.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c === 46 /* . */ && i > 0 && h.charCodeAt(i - 1) === 46) return false;
      if (!REG_NAME[c]) return false;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (h.charCodeAt(i) !== 58) return false;
  for (i++; i < n; i++) {
    const c = h.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** reg-name characters by code: ALPHA DIGIT - . _ ~ ! $ & ' ( ) * + , ; = % */
const REG_NAME: readonly boolean[] = (() => {
  const t: boolean[] = new Array(128).fill(false);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    t[c] = /[A-Za-z0-9\-._~!$&'()*+,;=%]/.test(ch);
  }
  return t;
})();

/** Parse `host`, `host:port`, `[v6]` or `[v6]:port`; null when malformed. */
export function parseHostPort(s: string, defaultPort: number): HostPort | null {
  let host: string;
  let portStr: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return null;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    portStr = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) return null;
  } else {
    const colons = s.split(':').length - 1;
    if (colons > 1) {
      if (isIP(s) !== 6) return null;
      host = s;
    } else if (colons === 1) {
      const i = s.indexOf(':');
      host = s.slice(0, i);
      portStr = s.slice(i + 1);
    } else host = s;
    if (!isHostname(host)) return null;
  }
  let port = defaultPort;
  if (portStr !== undefined) {
    if (!/^\d{1,5}$/.test(portStr)) return null;
    port = Number(portStr);
    if (port < 1 || port > 65535) return null;
  }
  return { host: host.toLowerCase(), port };
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; anything else unchanged. */
export function unmapIPv4(addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr;
}

/** Build a matcher from addresses and CIDRs; returns the index of the first bad entry on error. */
export function buildCidrList(
  entries: readonly string[],
): { list: BlockList } | { bad: number; why: string } {
  const list = new BlockList();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const [addr, bits, extra] = e.split('/');
    const fam = isIP(addr ?? '');
    if (extra !== undefined || fam === 0)
      return { bad: i, why: `expected an IP address or CIDR, got ${JSON.stringify(e)}` };
    const type = fam === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (fam === 4 ? 32 : 128))
        return {
          bad: i,
          why: `expected a prefix length of 0-${fam === 4 ? 32 : 128}, got ${JSON.stringify(bits)}`,
        };
      list.addSubnet(addr!, n, type);
    }
  }
  return { list };
}

export function inCidrList(list: BlockList, addr: string): boolean {
  const a = unmapIPv4(addr);
  const fam = isIP(a);
  if (fam === 0) return false;
  return list.check(a, fam === 4 ? 'ipv4' : 'ipv6');
}

/** True for addresses only this host can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopback(address: string): boolean {
  const a = unmapIPv4(address.toLowerCase().replace(/^\[|\]$/g, ''));
  return a === 'localhost' || a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}
