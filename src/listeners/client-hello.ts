/**
 * Reads the server name (SNI, RFC 6066 §3) from the first bytes of a TLS connection without
 * terminating it, for tls_passthrough routing (Kong's `ssl_preread`, HAProxy's `req.ssl_sni`).
 *
 * Written by hand on purpose: Node's tls module only exposes the SNI after taking over the
 * connection as a TLS server, which passthrough must not do, and the npm parsers either parse the
 * whole handshake or are unmaintained. Only a few dozen lines of RFC 8446 §4.1.2 are needed here:
 * the record layer (the ClientHello may span several records and arrive in several TCP segments),
 * the handshake header, and a walk over the extensions. Everything is bounds-checked; any
 * malformation is an error (the connection is refused), not a guess.
 */
import { Buffer } from 'node:buffer';

/** The largest ClientHello read (post-quantum key shares make ~2 KB hellos common; 16 KiB is generous). */
export const MAX_CLIENT_HELLO_BYTES = 16384;

export type HelloResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'error'; readonly reason: string }
  /** `sni` null: the hello carries no server_name extension (or no host_name entry). */
  | { readonly kind: 'ok'; readonly sni: string | null };

const NEED_MORE: HelloResult = { kind: 'need-more' };
const err = (reason: string): HelloResult => ({ kind: 'error', reason });

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_HOST = 0;

/**
 * Parse what has arrived so far. `need-more` until the whole ClientHello message is there; the
 * caller bounds the wait (bytes and time).
 */
export function parseClientHello(buf: Buffer): HelloResult {
  // Reassemble the handshake message from the record fragments present.
  const parts: Buffer[] = [];
  let have = 0;
  let want = -1;
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 5) return NEED_MORE;
    if (buf[off] !== CONTENT_HANDSHAKE) return err('not a TLS handshake record');
    if (buf[off + 1] !== 3) return err('unsupported TLS record version');
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384) return err('bad TLS record length');
    const frag = buf.subarray(off + 5, Math.min(off + 5 + len, buf.length));
    parts.push(frag);
    have += frag.length;
    if (want < 0 && have >= 4) {
      const h = parts.length === 1 ? frag : Buffer.concat(parts);
      if (h[0] !== HANDSHAKE_CLIENT_HELLO) return err('first handshake message is not a ClientHello');
      want = 4 + h.readUIntBE(1, 3);
      if (want > MAX_CLIENT_HELLO_BYTES) return err('ClientHello too large');
    }
    if (want >= 0 && have >= want) break;
    if (frag.length < len) return NEED_MORE;
    off += 5 + len;
  }
  if (want < 0 || have < want) {
    if (buf.length > MAX_CLIENT_HELLO_BYTES + 5 * 8) return err('ClientHello too large');
    return NEED_MORE;
  }
  const msg = (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).subarray(4, want);
  return readBody(msg);
}

/** The ClientHello body: version, random, session id, cipher suites, compression, extensions. */
function readBody(b: Buffer): HelloResult {
  let p = 2 + 32;
  if (b.length < p + 1) return err('truncated ClientHello');
  const sid = b[p]!;
  if (sid > 32) return err('bad session id length');
  p += 1 + sid;
  if (b.length < p + 2) return err('truncated ClientHello');
  const suites = b.readUInt16BE(p);
  if (suites < 2 || suites % 2 !== 0) return err('bad cipher suites length');
  p += 2 + suites;
  if (b.length < p + 1) return err('truncated ClientHello');
  const comp = b[p]!;
  if (comp < 1) return err('bad compression methods length');
  p += 1 + comp;
  if (p > b.length) return err('truncated ClientHello');
  if (p === b.length) return { kind: 'ok', sni: null }; // no extensions at all (SSL 3-era hellos)
  if (b.length < p + 2) return err('truncated extensions');
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd !== b.length) return err('extensions length does not match the message');
  p += 2;
  let sni: string | null = null;
  const seen = new Set<number>();
  while (p < extEnd) {
    if (extEnd - p < 4) return err('truncated extension header');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return err('extension overruns the message');
    if (seen.has(type)) return err('duplicate extension');
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const r = readServerName(b.subarray(p, p + len));
      if (typeof r !== 'string' && r !== null) return r;
      sni = r;
    }
    p += len;
  }
  return { kind: 'ok', sni };
}

/** The server_name extension: a list of (type, name); the host_name entry, lower case, no trailing dot. */
function readServerName(e: Buffer): string | null | HelloResult {
  if (e.length < 2 || e.readUInt16BE(0) !== e.length - 2) return err('bad server_name list length');
  let p = 2;
  let host: string | null = null;
  while (p < e.length) {
    if (e.length - p < 3) return err('truncated server_name entry');
    const type = e[p]!;
    const len = e.readUInt16BE(p + 1);
    p += 3;
    if (p + len > e.length) return err('server_name entry overruns the extension');
    if (type === NAME_HOST) {
      if (host !== null) return err('two host_name entries');
      if (len === 0 || len > 255) return err('bad host_name length');
      const raw = e.subarray(p, p + len);
      // RFC 6066: ASCII, no trailing dot. Only letters, digits, '-', '_' and '.' are accepted.
      for (const c of raw)
        if (
          !(
            (c >= 0x61 && c <= 0x7a) ||
            (c >= 0x41 && c <= 0x5a) ||
            (c >= 0x30 && c <= 0x39) ||
            c === 0x2d ||
            c === 0x2e ||
            c === 0x5f
          )
        )
          return err('host_name has a character a DNS name cannot have');
      host = raw.toString('latin1').toLowerCase();
      if (host.endsWith('.')) host = host.slice(0, -1);
      if (host === '' || host.startsWith('.') || host.includes('..')) return err('bad host_name');
    }
    p += len;
  }
  return host;
}
