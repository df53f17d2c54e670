/**
 * The client certificate of a connection to an mTLS listener (`verify_client: optional|required`):
 * read once when the handshake completes, kept on the socket, and available to the exchange
 * (`Exchange.clientCert`, for routing and plugins) and, with `forward_client_cert`, sent to targets
 * as `X-Client-Cert-*` headers. The verdict follows nginx's `$ssl_client_verify`: `SUCCESS`,
 * `FAILED:<reason>` or `NONE`.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface ClientCertIdentity {
  /** `SUCCESS`, `FAILED:<OpenSSL code>` or `NONE` (no certificate presented). */
  readonly verify: string;
  readonly verified: boolean;
  /** The subject as `CN=client,O=Example` ('' when none). */
  readonly subject: string;
  readonly commonName: string;
  /** Subject alternative names as OpenSSL prints them: `DNS:a.example, URI:spiffe://x`. */
  readonly san: string;
  /** SHA-256 of the DER certificate, lower-case hex without colons (Envoy's XFCC `Hash`). */
  readonly fingerprint256: string;
  readonly serial: string;
  readonly issuer: string;
}

/** Fields the TLS listener sets on its sockets. */
export type ClientCertSocket = TLSSocket & {
  fulcrumClientCert?: ClientCertIdentity | null;
  fulcrumForwardClientCert?: boolean;
};

const NONE: ClientCertIdentity = Object.freeze({
  verify: 'NONE',
  verified: false,
  subject: '',
  commonName: '',
  san: '',
  fingerprint256: '',
  serial: '',
  issuer: '',
});

function dn(o: Record<string, string | string[]> | undefined): string {
  if (!o) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o))
    for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${x.replace(/[,+"\\<>;=]/g, '\\$&')}`);
  return parts.join(',');
}

export function clientIdentityOf(s: TLSSocket): ClientCertIdentity {
  const c = s.getPeerCertificate();
  if (!c || Object.keys(c).length === 0) return NONE;
  const cn = c.subject?.CN;
  return Object.freeze({
    verify: s.authorized ? 'SUCCESS' : `FAILED:${String(s.authorizationError ?? 'unknown')}`,
    verified: s.authorized,
    subject: dn(c.subject as unknown as Record<string, string | string[]>),
    commonName: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''),
    san: c.subjectaltname ?? '',
    fingerprint256: (c.fingerprint256 ?? '').replace(/:/g, '').toLowerCase(),
    serial: c.serialNumber ?? '',
    issuer: dn(c.issuer as unknown as Record<string, string | string[]>),
  });
}

/** The connection's client certificate; null on listeners that do not ask for one. */
export function clientCertOf(socket: Socket): ClientCertIdentity | null {
  return (socket as ClientCertSocket).fulcrumClientCert ?? null;
}

const PREFIX = 'x-client-cert-';

/**
 * The `X-Client-Cert-*` fields for the target when the socket's listener forwards them (the
 * client's own fields of that prefix are then dropped by the caller), [name, value, ...]; else null.
 */
export function clientCertFields(socket: Socket): string[] | null {
  const s = socket as ClientCertSocket;
  if (s.fulcrumForwardClientCert !== true) return null;
  const out: string[] = [];
  const id = s.fulcrumClientCert ?? NONE;
  out.push(`${PREFIX}verify`, id.verify);
  if (id !== NONE) {
    out.push(`${PREFIX}subject`, safe(id.subject), `${PREFIX}cn`, safe(id.commonName));
    if (id.san !== '') out.push(`${PREFIX}san`, safe(id.san));
    out.push(`${PREFIX}fingerprint`, id.fingerprint256, `${PREFIX}serial`, id.serial);
    out.push(`${PREFIX}issuer`, safe(id.issuer));
  }
  return out;
}

/** Certificate names may hold any UTF-8; a header value carries visible ASCII, the rest %-encoded. */
function safe(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : v.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}
