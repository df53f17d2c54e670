/**
 * How a pool connects to a target of an https service (docs/tls.md#upstream-tls): the certificate
 * is verified (`tls_verify`, on by default) against the service's `ca_certificates`, else the
 * system store; a client certificate is presented when the service names one; SNI is the Host
 * header sent to the target (undici derives it per request, as Kong does), or the target's host
 * name when that Host is an IP address, or `tls_server_name` for every request when set.
 */

import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { buildConnector as BuildConnector } from 'undici';
import type { ServiceSpec } from '../config/types.ts';

/** undici's connector factory, loaded by its own file for the reason pools.ts gives. */
const buildConnector = createRequire(import.meta.url)('undici/lib/core/connect.js') as typeof BuildConnector;

export type ConnectSetting = BuildConnector.BuildOptions | BuildConnector.connector;

/** undici's `connect` option for a pool to `host` of service `s`. */
export function upstreamConnect(host: string, s: ServiceSpec): ConnectSetting {
  const base: BuildConnector.BuildOptions & Record<string, unknown> = {
    timeout: s.connectTimeoutMs,
    rejectUnauthorized: s.tlsVerify,
  };
  if (s.protocol !== 'https') return base;
  const t = s.tls;
  // RFC 6066 forbids an IP address as a server name: then no SNI, and the IP is verified instead.
  if (isIP(host) === 0) base.servername = host;
  if (t.ca.length > 0) base.ca = [...t.ca];
  if (t.clientCertificate !== null) {
    const c = t.clientCertificate;
    base.cert = c.certAlt === '' ? c.cert : [c.cert, c.certAlt];
    base.key = c.keyAlt === '' ? c.key : [c.key, c.keyAlt];
  }
  if (t.serverName === '') return base;
  // undici prefers the per-request name (from the Host header) over the option: override it here.
  const connector = buildConnector({ ...base, servername: t.serverName });
  const serverName = t.serverName;
  return (opts: BuildConnector.Options, cb: BuildConnector.Callback) =>
    connector({ ...opts, servername: serverName }, cb);
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
