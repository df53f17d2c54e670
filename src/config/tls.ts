/**
 * TLS material, validated once at load: Kong's `certificates` (with nested or top-level `snis`)
 * and `ca_certificates`, each https listener's `tls` block (its default certificate, versions,
 * ciphers, client verification) and each service's upstream TLS (trusted CAs, client certificate,
 * SNI). Every PEM is parsed with node:crypto and every key is checked against its certificate, so
 * a typo refuses the file at load with its line, never at the first handshake.
 *
 * An expired (or not yet valid) certificate is a warning (a Problem), not a refusal: refusing it
 * would refuse every later reload too, and the clients decide what an expired certificate means
 * (nginx and HAProxy load them as well).
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { REDACTED, REDACTED_REFUSAL } from '../core/redacted.ts';
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';
import { relativeToFile } from './paths.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface CertificateSpec {
  readonly id: string;
  /** PEM: the leaf first, then its chain. */
  readonly cert: string;
  readonly key: string;
  /** A second pair with another key type ('' when unset). */
  readonly certAlt: string;
  readonly keyAlt: string;
  /** Server names, lower case: exact, `*.suffix` or `prefix.*`. */
  readonly snis: readonly string[];
  readonly subject: string;
  /** ISO time the leaf expires. */
  readonly notAfter: string;
  /** SHA-256 of the leaf (hex, colon-separated as OpenSSL prints it). */
  readonly fingerprint256: string;
}

export interface ListenerTlsSpec {
  /** Served without SNI or when no name matches. */
  readonly defaultCertificate: CertificateSpec;
  /** Every certificate with server names, for SNI selection. */
  readonly certificates: readonly CertificateSpec[];
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** OpenSSL cipher list, '' for Node's default. */
  readonly ciphers: string;
  readonly sessionTickets: boolean;
  readonly sessionTimeoutS: number;
  /** PEM bundle client certificates must chain to ('' when verification is off). */
  readonly clientCa: string;
  readonly verifyClient: 'off' | 'optional' | 'required';
  readonly forwardClientCert: boolean;
}

export interface UpstreamTlsSpec {
  /** PEMs of the trusted CAs; empty: the system store. */
  readonly ca: readonly string[];
  readonly caIds: readonly string[];
  readonly clientCertificate: CertificateSpec | null;
  /** SNI override, '' to send the Host header sent to the target. */
  readonly serverName: string;
}

export const NO_UPSTREAM_TLS: UpstreamTlsSpec = {
  ca: [],
  caIds: [],
  clientCertificate: null,
  serverName: '',
};

export interface TlsMaterial {
  readonly certificates: readonly CertificateSpec[];
  readonly byId: ReadonlyMap<string, CertificateSpec>;
  readonly caById: ReadonlyMap<string, string>;
}

export interface Problemish {
  readonly path: string;
  readonly message: string;
}

type Derive = (kind: string, key: string) => string;

interface Ctx {
  readonly src: ParsedSource;
  readonly issues: ConfigIssue[];
  readonly problems: Problemish[];
  readonly nowMs: number;
  readonly derive: Derive;
}

const SNI_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(\.\*)?$/;

/** A server name as a certificate may answer for; null when malformed. */
export function normalizeSniName(name: string): string | null {
  const n = name.toLowerCase();
  if (!SNI_RE.test(n) || (n.startsWith('*.') && n.endsWith('.*'))) return null;
  return n;
}

function pathOf(at: readonly PathPart[]): string {
  let out = '';
  for (const p of at) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Parse a certificate/key pair; an issue at the offending field when it does not parse or match. */
function checkPair(
  c: Ctx,
  at: readonly PathPart[],
  cert: string,
  key: string,
  fields: readonly [string, string],
): X509Certificate | null {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    c.issues.push(c.src.issue([...at, fields[0]], `not a PEM certificate: ${(err as Error).message}`));
    return null;
  }
  if (key === REDACTED) {
    c.issues.push(c.src.issue([...at, fields[1]], `this private key ${REDACTED_REFUSAL}`));
    return null;
  }
  try {
    const pk = createPrivateKey(key);
    if (!x509.checkPrivateKey(pk)) {
      c.issues.push(
        c.src.issue([...at, fields[1]], `the private key does not match the certificate (${x509.subject})`),
      );
      return null;
    }
  } catch (err) {
    c.issues.push(c.src.issue([...at, fields[1]], `not a PEM private key: ${(err as Error).message}`));
    return null;
  }
  const from = Date.parse(x509.validFrom);
  const to = Date.parse(x509.validTo);
  const who = x509.subject.replace(/\n/g, ', ');
  if (to < c.nowMs)
    c.problems.push({
      path: pathOf([...at, fields[0]]),
      message: `certificate ${who} expired on ${new Date(to).toISOString()}; still served`,
    });
  else if (from > c.nowMs)
    c.problems.push({
      path: pathOf([...at, fields[0]]),
      message: `certificate ${who} is not valid before ${new Date(from).toISOString()}; served anyway`,
    });
  return x509;
}

function certificateSpec(
  c: Ctx,
  raw: Raw,
  at: readonly PathPart[],
  id: string,
  snis: string[],
  fields: readonly [string, string] = ['cert', 'key'],
): CertificateSpec | null {
  const x509 = checkPair(c, at, raw.cert, raw.key, fields);
  const hasAlt = raw.cert_alt !== undefined || raw.key_alt !== undefined;
  if (hasAlt) {
    if (raw.cert_alt === undefined || raw.key_alt === undefined)
      c.issues.push(c.src.issue(at, '"cert_alt" and "key_alt" go together'));
    else checkPair(c, at, raw.cert_alt, raw.key_alt, ['cert_alt', 'key_alt']);
  }
  if (x509 === null) return null;
  return {
    id,
    cert: raw.cert,
    key: raw.key,
    certAlt: raw.cert_alt ?? '',
    keyAlt: raw.key_alt ?? '',
    snis,
    subject: x509.subject.replace(/\n/g, ', '),
    notAfter: new Date(Date.parse(x509.validTo)).toISOString(),
    fingerprint256: x509.fingerprint256,
  };
}

/** `certificates`, their nested and top-level `snis`, and `ca_certificates`. */
export function normalizeTlsMaterial(
  src: ParsedSource,
  doc: Raw,
  issues: ConfigIssue[],
  problems: Problemish[],
  nowMs: number,
  derive: Derive,
): TlsMaterial {
  const c: Ctx = { src, issues, problems, nowMs, derive };
  const raws: Raw[] = doc.certificates ?? [];
  const ids = raws.map((r) => (typeof r.id === 'string' ? r.id : derive('certificate', String(r.cert))));
  const names: string[][] = raws.map(() => []);
  const seen = new Map<string, string>();
  const addName = (i: number, name: string, at: PathPart[]) => {
    const n = normalizeSniName(name);
    if (n === null) {
      issues.push(
        src.issue(
          at,
          `expected a server name, optionally with a leading "*." or trailing ".*", got ${JSON.stringify(name)}`,
        ),
      );
      return;
    }
    const first = seen.get(n);
    if (first !== undefined) {
      issues.push(src.issue(at, `duplicate sni ${JSON.stringify(n)} (also at ${first})`));
      return;
    }
    seen.set(n, pathOf(at));
    names[i]!.push(n);
  };
  raws.forEach((r, i) => {
    (r.snis ?? []).forEach((s: string | Raw, j: number) => {
      addName(i, typeof s === 'string' ? s : s.name, ['certificates', i, 'snis', j]);
    });
  });
  (doc.snis ?? []).forEach((s: Raw, j: number) => {
    const ref = typeof s.certificate === 'string' ? s.certificate : s.certificate?.id;
    const i = ref === undefined ? -1 : ids.indexOf(ref);
    if (i < 0) {
      issues.push(
        src.issue(
          ['snis', j],
          ref === undefined
            ? 'missing required field "certificate"'
            : `certificate ${JSON.stringify(ref)} does not exist`,
          ref === undefined ? undefined : 'certificate',
        ),
      );
      return;
    }
    addName(i, s.name, ['snis', j, 'name']);
  });
  const certificates: CertificateSpec[] = [];
  const byId = new Map<string, CertificateSpec>();
  raws.forEach((r, i) => {
    const id = ids[i]!;
    if (byId.has(id)) {
      issues.push(src.issue(['certificates', i, 'id'], `duplicate certificate id ${JSON.stringify(id)}`));
      return;
    }
    const spec = certificateSpec(c, r, ['certificates', i], id, names[i]!);
    if (spec === null) return;
    if (spec.certAlt !== '' && spec.snis.length > 0)
      problems.push({
        path: `certificates[${i}].cert_alt`,
        message:
          'cert_alt is served only where this certificate is a listener default; for its server names Node serves one certificate (cert)',
      });
    for (const n of spec.snis) {
      if (n.includes('*')) continue;
      if (new X509Certificate(spec.cert).checkHost(n) === undefined)
        problems.push({
          path: `certificates[${i}]`,
          message: `the certificate (${spec.subject}) does not cover sni ${JSON.stringify(n)}: clients will refuse it`,
        });
    }
    certificates.push(spec);
    byId.set(id, spec);
  });
  const caById = new Map<string, string>();
  (doc.ca_certificates ?? []).forEach((r: Raw, i: number) => {
    const id = typeof r.id === 'string' ? r.id : derive('ca_certificate', String(r.cert));
    try {
      const x = new X509Certificate(r.cert);
      if (!x.ca)
        issues.push(
          src.issue(
            ['ca_certificates', i, 'cert'],
            `not a CA certificate (${x.subject}): basicConstraints CA is false`,
          ),
        );
      else if (Date.parse(x.validTo) < nowMs)
        problems.push({
          path: `ca_certificates[${i}]`,
          message: `CA certificate ${x.subject} expired on ${x.validTo}`,
        });
    } catch (err) {
      issues.push(
        src.issue(['ca_certificates', i, 'cert'], `not a PEM certificate: ${(err as Error).message}`),
      );
      return;
    }
    caById.set(id, r.cert);
  });
  return { certificates, byId, caById };
}

function readPem(c: Ctx, at: readonly PathPart[], file: string): string | null {
  const full = relativeToFile(c.src.file, file);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    c.issues.push(
      c.src.issue(
        at,
        `cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      ),
    );
    return null;
  }
}

/** The `tls` block of listener `at`; null for an http listener (an issue if it has one anyway). */
export function normalizeListenerTls(
  src: ParsedSource,
  raw: Raw,
  at: readonly PathPart[],
  material: TlsMaterial,
  issues: ConfigIssue[],
  problems: Problemish[],
  nowMs: number,
  derive: Derive,
): ListenerTlsSpec | null {
  const c: Ctx = { src, issues, problems, nowMs, derive };
  const t: Raw = raw.tls ?? {};
  if ((raw.protocol ?? 'http') !== 'https') {
    if (raw.tls !== undefined) issues.push(src.issue(at, 'a "tls" block needs protocol: https', 'tls'));
    return null;
  }
  const tat = [...at, 'tls'];
  let dflt: CertificateSpec | null = null;
  let failed = false;
  if (t.certificate !== undefined || t.key !== undefined) {
    if (t.certificate === undefined || t.key === undefined) {
      issues.push(src.issue(tat, '"certificate" and "key" go together'));
      return null;
    }
    if (t.default_certificate !== undefined)
      issues.push(src.issue(tat, 'give either "certificate"/"key" or "default_certificate", not both'));
    const cert = readPem(c, [...tat, 'certificate'], t.certificate);
    const key = readPem(c, [...tat, 'key'], t.key);
    if (cert === null || key === null) return null;
    const spec = certificateSpec(
      c,
      { cert, key },
      tat,
      derive('certificate', cert),
      [],
      ['certificate', 'key'],
    );
    dflt = spec;
    failed = spec === null;
  } else if (t.default_certificate !== undefined) {
    dflt = material.byId.get(t.default_certificate) ?? null;
    if (dflt === null) {
      issues.push(
        src.issue(
          [...tat, 'default_certificate'],
          `certificate ${JSON.stringify(t.default_certificate)} does not exist`,
        ),
      );
      failed = true;
    }
  } else dflt = material.certificates[0] ?? null;
  if (dflt === null) {
    if (!failed)
      issues.push(
        src.issue(
          at,
          'an https listener needs a certificate: set tls.certificate and tls.key, or add "certificates"',
        ),
      );
    return null;
  }
  const minVersion: TlsVersion = t.min_version ?? 'TLSv1.2';
  const maxVersion: TlsVersion = t.max_version ?? 'TLSv1.3';
  if (minVersion > maxVersion)
    issues.push(
      src.issue([...tat, 'max_version'], `max_version ${maxVersion} is older than min_version ${minVersion}`),
    );
  const ciphers: string = t.ciphers ?? '';
  if (ciphers !== '')
    try {
      createSecureContext({ ciphers });
    } catch (err) {
      issues.push(
        src.issue([...tat, 'ciphers'], `OpenSSL refuses this cipher list: ${(err as Error).message}`),
      );
    }
  const verifyClient = t.verify_client ?? 'off';
  let clientCa = '';
  if (t.client_ca !== undefined) {
    clientCa = readPem(c, [...tat, 'client_ca'], t.client_ca) ?? '';
    if (clientCa !== '')
      try {
        new X509Certificate(clientCa);
        createSecureContext({ ca: clientCa });
      } catch (err) {
        issues.push(
          src.issue([...tat, 'client_ca'], `not a PEM certificate bundle: ${(err as Error).message}`),
        );
      }
  } else if (verifyClient !== 'off')
    issues.push(src.issue([...tat, 'verify_client'], `verify_client: ${verifyClient} needs client_ca`));
  return {
    defaultCertificate: dflt,
    certificates: material.certificates.filter((x) => x.snis.length > 0),
    minVersion,
    maxVersion,
    ciphers,
    sessionTickets: t.session_tickets ?? true,
    sessionTimeoutS: t.session_timeout ?? 300,
    clientCa: verifyClient === 'off' ? '' : clientCa,
    verifyClient,
    forwardClientCert: t.forward_client_cert ?? false,
  };
}

/** A service's upstream TLS: its CAs and client certificate resolved by id. */
export function normalizeServiceTls(
  src: ParsedSource,
  raw: Raw,
  at: readonly PathPart[],
  material: TlsMaterial,
  issues: ConfigIssue[],
): UpstreamTlsSpec {
  const caIds: string[] = raw.ca_certificates ?? [];
  const ca: string[] = [];
  caIds.forEach((id, i) => {
    const pem = material.caById.get(id);
    if (pem === undefined)
      issues.push(
        src.issue([...at, 'ca_certificates', i], `ca_certificate ${JSON.stringify(id)} does not exist`),
      );
    else ca.push(pem);
  });
  const ref = raw.client_certificate;
  const refId: string | undefined = typeof ref === 'string' ? ref : (ref?.id ?? undefined);
  let clientCertificate: CertificateSpec | null = null;
  if (refId !== undefined) {
    clientCertificate = material.byId.get(refId) ?? null;
    if (clientCertificate === null)
      issues.push(
        src.issue([...at, 'client_certificate'], `certificate ${JSON.stringify(refId)} does not exist`),
      );
  }
  const serverName: string = raw.tls_server_name ?? '';
  if (serverName !== '' && normalizeSniName(serverName) === null)
    issues.push(
      src.issue([...at, 'tls_server_name'], `expected a host name, got ${JSON.stringify(serverName)}`),
    );
  if (ca.length === 0 && clientCertificate === null && serverName === '') return NO_UPSTREAM_TLS;
  return { ca, caIds, clientCertificate, serverName: serverName.toLowerCase() };
}

/** A short digest of TLS settings, for pool keys (a change of CA or client certificate means new connections). */
export function upstreamTlsKey(t: UpstreamTlsSpec): string {
  if (t === NO_UPSTREAM_TLS) return '';
  return createHash('sha256')
    .update(`${t.ca.join('')}|${t.clientCertificate?.fingerprint256 ?? ''}|${t.serverName}`)
    .digest('hex')
    .slice(0, 12);
}
