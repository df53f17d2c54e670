/**
 * The TLS certificates a node serves, per listener (the admin listener as `admin`), read from the
 * snapshot in service: for the expiry gauge and the dashboard. The certificate's subject and
 * expiry were parsed once when the configuration was validated (src/config/tls.ts).
 */

import { X509Certificate } from 'node:crypto';
import type { CertificateSpec, ListenerTlsSpec } from '../config/tls.ts';
import type { NodeSpec } from '../config/types.ts';

export interface ServedCertificate {
  readonly listener: string;
  readonly id: string;
  readonly subject: string;
  /** The server names it is selected for (SNI), empty for a listener's default. */
  readonly snis: readonly string[];
  /** The DNS names and addresses the leaf is valid for (its subjectAltName). */
  readonly names: readonly string[];
  /** ISO time the leaf expires. */
  readonly notAfter: string;
  readonly fingerprint256: string;
  /** Whether the listener serves it when no SNI matches. */
  readonly isDefault: boolean;
}

/** Parsed once per certificate object of a snapshot (metrics scrapes read them again and again). */
const namesOf = new WeakMap<CertificateSpec, string[]>();

/** A leaf's subjectAltName entries without their type (`DNS:a.test` → `a.test`). */
function subjectAltNames(c: CertificateSpec): string[] {
  let names = namesOf.get(c);
  if (names === undefined) {
    try {
      const san = new X509Certificate(c.cert).subjectAltName ?? '';
      names = san === '' ? [] : san.split(', ').map((s) => s.slice(s.indexOf(':') + 1));
    } catch {
      names = [];
    }
    namesOf.set(c, names);
  }
  return names;
}

function* ofListener(listener: string, tls: ListenerTlsSpec): Generator<ServedCertificate> {
  const seen = new Set<string>();
  const one = (c: CertificateSpec, isDefault: boolean): ServedCertificate | null => {
    if (seen.has(c.id)) return null;
    seen.add(c.id);
    return {
      listener,
      id: c.id,
      subject: c.subject,
      snis: c.snis,
      names: subjectAltNames(c),
      notAfter: c.notAfter,
      fingerprint256: c.fingerprint256,
      isDefault,
    };
  };
  const d = one(tls.defaultCertificate, true);
  if (d !== null) yield d;
  for (const c of tls.certificates) {
    const x = one(c, false);
    if (x !== null) yield x;
  }
}

/** Every certificate served by the node's listeners, listener by listener. */
export function* servedCertificates(node: NodeSpec): Generator<ServedCertificate> {
  for (const l of node.listeners) if (l.tls !== null) yield* ofListener(l.name, l.tls);
  if (node.admin.enabled && node.admin.tls !== null) yield* ofListener('admin', node.admin.tls);
}
