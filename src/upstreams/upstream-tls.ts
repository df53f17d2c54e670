/**
 * How a pool connects to a target of an https service (docs/tls.md#upstream-tls): the certificate
 * is verified (`tls_verify`, on by default) against the service's `ca_certificates`, else the
 * system store; a client certificate is presented when the service names one; SNI is the Host
 * header sent to the target (undici derives it per request, as Kong does), or the target's host
 * name when that Host is an IP address, or `tls_server_name` for every request when set.
 */

import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { ServiceSpec } from '../config/types.ts';

/** TLS options for connections to the targets of an https (or grpcs) service; null for cleartext. */
export function upstreamTlsOptions(s: ServiceSpec): ConnectionOptions | null {
  if (s.protocol !== 'https' && s.protocol !== 'grpcs') return null;
  const t = s.tls;
  const o: ConnectionOptions = { rejectUnauthorized: s.tlsVerify };
  if (t.ca.length > 0) o.ca = [...t.ca];
  if (t.clientCertificate !== null) {
    const c = t.clientCertificate;
    o.cert = c.certAlt === '' ? c.cert : [c.cert, c.certAlt];
    o.key = c.keyAlt === '' ? c.key : [c.key, c.keyAlt];
  }
  return o;
}

/**
 * The server name (SNI, and the name the certificate is verified against) for a request to an
 * https target: `tls_server_name` when set, else the Host header sent (as Kong does), else the
 * target's host; never an IP address (RFC 6066 §3): '' then, and the IP is verified instead.
 */
export function upstreamServername(s: ServiceSpec, host: string, targetHost: string): string {
  if (s.protocol !== 'https' && s.protocol !== 'grpcs') return '';
  if (s.tls.serverName !== '') return s.tls.serverName;
  const h = stripPort(host);
  if (h !== '' && isIP(h) === 0) return h;
  return isIP(targetHost) === 0 ? targetHost : '';
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const c = host.lastIndexOf(':');
  return c > 0 && host.indexOf(':') === c ? host.slice(0, c) : host;
}

/** OpenSSL's certificate verification failures, as Node reports them (`err.code`). */
const VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

/**
 * Whether an upstream error is a failed TLS handshake (the certificate refused, a TLS alert, a
 * target that does not speak TLS): nothing of the request was sent, so it is a connect failure.
 */
export function isTlsHandshakeError(code: string): boolean {
  return (
    VERIFY_CODES.has(code) ||
    code.startsWith('ERR_SSL_TLSV1_ALERT_') ||
    code.startsWith('ERR_SSL_SSLV3_ALERT_') ||
    code.startsWith('ERR_SSL_TLSV13_ALERT_')
  );
}
