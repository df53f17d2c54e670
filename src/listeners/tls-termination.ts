/**
 * TLS termination for a listener: the server's options, one SecureContext per certificate built
 * when a configuration is applied (never per handshake), and the SNICallback that picks one:
 * exact name, then `*.suffix` (one label, as certificate wildcards match), then `prefix.*`
 * (nginx's and Kong's order). No SNI, or no match, gets the default certificate, which is the
 * server's own context.
 *
 * A reload or an admin change calls `update`: new handshakes see the new contexts while open
 * connections keep the one they negotiated (nothing is closed). Contexts of unchanged
 * certificates are reused. The session-ticket keys and session-id context are fixed for the
 * listener's life, so sessions resume across reloads.
 *
 * Version limits and ciphers are the server context's (OpenSSL copies them into a connection
 * before SNI is read); SNI contexts only swap the certificate and the client CA list, and are
 * built with the same settings for consistency.
 */
import { constants, createHash, randomBytes } from 'node:crypto';
import {
  createSecureContext,
  type SecureContext,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateSpec, ListenerTlsSpec } from '../config/tls.ts';
import { type ClientCertSocket, clientIdentityOf } from '../proxy/client-cert.ts';

/**
 * Protocols offered by ALPN, in preference order. The HTTP/2 listener adds `h2` in front of these;
 * a client that offers neither still gets HTTP/1.1 (no ALPN answer).
 */
export const HTTP1_ALPN: readonly string[] = ['http/1.1'];

export class TlsTermination {
  private spec: ListenerTlsSpec;
  private readonly ticketKeys = randomBytes(48);
  private readonly sessionIdContext = randomBytes(16).toString('hex');
  private readonly handshakeTimeoutMs: number;
  private readonly alpn: readonly string[];
  private cache = new Map<string, SecureContext>();
  private exact = new Map<string, SecureContext>();
  /** `*.example.com` → key `example.com`. */
  private leading = new Map<string, SecureContext>();
  /** `example.*` → key `example.`. */
  private trailing: [string, SecureContext][] = [];
  private server: TlsServer | null = null;

  constructor(spec: ListenerTlsSpec, handshakeTimeoutMs: number, alpn: readonly string[] = HTTP1_ALPN) {
    this.spec = spec;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
    this.alpn = alpn;
    this.build(spec);
  }

  /** Options for `tls.createServer` (merged with the listener's own). */
  serverOptions(): Record<string, unknown> {
    return {
      ...this.contextOptions(this.spec.defaultCertificate, true),
      ALPNProtocols: [...this.alpn],
      SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) =>
        cb(null, this.lookup(name)),
      handshakeTimeout: this.handshakeTimeoutMs,
      requestCert: this.spec.verifyClient !== 'off',
      rejectUnauthorized: this.spec.verifyClient === 'required',
    };
  }

  /** Watch the server's connections: record the client certificate on mTLS listeners, log failed handshakes. */
  attach(server: TlsServer, log: Logger, listener: string): void {
    this.server = server;
    server.on('secureConnection', (s: TLSSocket) => {
      const spec = this.spec;
      if (spec.verifyClient === 'off' && !spec.forwardClientCert) return;
      const cs = s as ClientCertSocket;
      cs.fulcrumClientCert = spec.verifyClient === 'off' ? null : clientIdentityOf(s);
      cs.fulcrumForwardClientCert = spec.forwardClientCert;
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
      log.debug({ listener, err: err.message, code: err.code }, 'tls handshake failed');
      s.destroy();
    });
  }

  /** Put a new configuration in service for the next handshakes. */
  update(spec: ListenerTlsSpec): void {
    this.spec = spec;
    this.build(spec);
    const server = this.server;
    if (server === null) return;
    server.setSecureContext(this.contextOptions(spec.defaultCertificate, true));
    // Read by Node for every new connection (tls.Server's connection listener).
    const s = server as TlsServer & { requestCert: boolean; rejectUnauthorized: boolean };
    s.requestCert = spec.verifyClient !== 'off';
    s.rejectUnauthorized = spec.verifyClient === 'required';
  }

  /** The context for a client's server name, undefined for the default. */
  lookup(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const w = this.leading.get(name.slice(dot + 1));
      if (w !== undefined) return w;
    }
    for (const [prefix, ctx] of this.trailing) if (name.startsWith(prefix)) return ctx;
    return undefined;
  }

  /**
   * `withAlt`: also load `cert_alt`. Only the server's own (default) context can hold two: Node
   * applies an SNI context by copying its one current certificate and key into the connection
   * (UseSNIContext), so the other key type would silently come from the default context.
   */
  private contextOptions(c: CertificateSpec, withAlt: boolean): SecureContextOptions {
    const s = this.spec;
    const alt = withAlt && c.certAlt !== '';
    return {
      cert: alt ? [c.cert, c.certAlt] : c.cert,
      key: alt ? [c.key, c.keyAlt] : c.key,
      honorCipherOrder: true,
      minVersion: s.minVersion,
      maxVersion: s.maxVersion,
      ...(s.ciphers === '' ? {} : { ciphers: s.ciphers }),
      ...(s.clientCa === '' ? {} : { ca: s.clientCa }),
      ticketKeys: this.ticketKeys,
      sessionIdContext: this.sessionIdContext,
      sessionTimeout: s.sessionTimeoutS,
      secureOptions: s.sessionTickets ? 0 : constants.SSL_OP_NO_TICKET,
    };
  }

  private build(spec: ListenerTlsSpec): void {
    const settings = `${spec.minVersion}|${spec.maxVersion}|${spec.ciphers}|${spec.sessionTickets}|${spec.sessionTimeoutS}|${spec.clientCa}`;
    const cache = new Map<string, SecureContext>();
    const exact = new Map<string, SecureContext>();
    const leading = new Map<string, SecureContext>();
    const trailing: [string, SecureContext][] = [];
    for (const c of spec.certificates) {
      const key = createHash('sha256').update(`${c.cert}|${c.key}|${settings}`).digest('hex');
      let ctx = this.cache.get(key) ?? cache.get(key);
      if (ctx === undefined) ctx = createSecureContext(this.contextOptions(c, false));
      cache.set(key, ctx);
      for (const n of c.snis) {
        if (n.startsWith('*.')) leading.set(n.slice(2), ctx);
        else if (n.endsWith('.*')) trailing.push([n.slice(0, -1), ctx]);
        else exact.set(n, ctx);
      }
    }
    // Longer prefixes first: `api.example.*` beats `api.*`.
    trailing.sort((a, b) => b[0].length - a[0].length);
    this.cache = cache;
    this.exact = exact;
    this.leading = leading;
    this.trailing = trailing;
  }
}
