/**
 * The configuration of service discovery (docs/discovery.md): the node's DNS settings under
 * Kong's kong.conf names (`dns_resolver`, `dns_order`, `dns_valid_ttl`, `dns_stale_ttl`,
 * `dns_error_ttl`, `dns_not_found_ttl`), `resolve` on a target or a service (nginx's `resolve`
 * server parameter: the hostname expands to one target per record), and an upstream's `file_sd`
 * directory (Prometheus' file-based discovery). Times are seconds in the file, milliseconds here.
 */
import { isIP } from 'node:net';
import { parseHostPort } from '../core/net.ts';
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';
import { relativeToFile } from './paths.ts';
import { bool, type S, str } from './schema-kit.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

export const DNS_RECORD_TYPES = ['LAST', 'SRV', 'A', 'AAAA', 'CNAME'] as const;
export type DnsOrderItem = (typeof DNS_RECORD_TYPES)[number];

/** Kong 3's defaults. */
export const DEFAULT_DNS_ORDER: readonly DnsOrderItem[] = ['LAST', 'SRV', 'A', 'CNAME'];
export const DEFAULT_DNS_STALE_TTL_S = 3600;
export const DEFAULT_DNS_ERROR_TTL_S = 1;
export const DEFAULT_DNS_NOT_FOUND_TTL_S = 30;
/** Kong's `dns_hostsfile` default. */
export const DEFAULT_DNS_HOSTSFILE = '/etc/hosts';
/** Prometheus' default `refresh_interval` for file_sd. */
export const DEFAULT_FILE_SD_REFRESH_S = 300;

export interface DnsServer {
  readonly host: string;
  readonly port: number;
}

export interface DnsSpec {
  /** Servers asked in turn; empty: the system's (/etc/resolv.conf). */
  readonly resolvers: readonly DnsServer[];
  readonly order: readonly DnsOrderItem[];
  /** Replaces every record's TTL when set; null: the records' own. */
  readonly validTtlMs: number | null;
  readonly staleTtlMs: number;
  readonly errorTtlMs: number;
  readonly notFoundTtlMs: number;
  /** The hosts file read before DNS (absolute), or '' for none. */
  readonly hostsFile: string;
}

export interface FileSdSpec {
  /** Absolute path of the directory whose *.json, *.yaml and *.yml files list targets. */
  readonly directory: string;
  readonly refreshMs: number;
}

export const DEFAULT_DNS: DnsSpec = Object.freeze({
  resolvers: [],
  order: DEFAULT_DNS_ORDER,
  validTtlMs: null,
  staleTtlMs: DEFAULT_DNS_STALE_TTL_S * 1000,
  errorTtlMs: DEFAULT_DNS_ERROR_TTL_S * 1000,
  notFoundTtlMs: DEFAULT_DNS_NOT_FOUND_TTL_S * 1000,
  hostsFile: DEFAULT_DNS_HOSTSFILE,
});

const seconds = (description: string, dflt?: number): S => ({
  type: 'number',
  minimum: 0,
  maximum: 31_536_000,
  description,
  ...(dflt === undefined ? {} : { default: dflt }),
});

/** Top-level node settings (spread into the file schema beside node-schema.ts's). */
export const dnsNodeSchemas: Record<string, S> = {
  dns_resolver: {
    type: 'array',
    description:
      'DNS servers that resolve targets and services marked `resolve` (docs/discovery.md), each `address` or `address:port` (`[IPv6]:port`), asked in turn. Unset: the servers of /etc/resolv.conf.',
    items: { type: 'string', minLength: 1 },
  },
  dns_order: {
    type: 'array',
    description:
      "The record types tried, in order, for a name to resolve (Kong's `dns_order`): `LAST` is the type that answered last time, `SRV` gives ports, weights and priorities, `A` and `AAAA` addresses. `CNAME` is accepted and needs no query of its own: aliases are followed inside the other answers.",
    items: { type: 'string', enum: [...DNS_RECORD_TYPES] },
    minItems: 1,
    uniqueItems: true,
    default: [...DEFAULT_DNS_ORDER],
  },
  dns_valid_ttl: seconds(
    "Seconds to keep every answer, in place of the records' own TTL. Unset: the records' TTL.",
  ),
  dns_stale_ttl: seconds(
    'Seconds past its TTL that an answer keeps serving while the DNS servers fail (stale-if-error); then its targets are removed.',
    DEFAULT_DNS_STALE_TTL_S,
  ),
  dns_error_ttl: seconds(
    'Seconds before a name is asked again after the servers failed (timeout, SERVFAIL, REFUSED).',
    DEFAULT_DNS_ERROR_TTL_S,
  ),
  dns_hostsfile: {
    type: 'string',
    description:
      'The hosts file whose names are answered before any DNS server is asked (Kong\'s `dns_hostsfile`), relative to the configuration file; read again when it changes. A name it lists is resolved from it alone (its IPv4 lines for A, IPv6 for AAAA, no SRV). `""`: none.',
    default: DEFAULT_DNS_HOSTSFILE,
  },
  dns_not_found_ttl: seconds(
    'Seconds before a name that has no record of any type in `dns_order` (NXDOMAIN or no data) is asked again.',
    DEFAULT_DNS_NOT_FOUND_TTL_S,
  ),
};

export const resolveTargetField: S = bool(
  "Resolve the hostname with DNS (docs/discovery.md): one target per A/AAAA record, each with this target's weight (as Kong), or per SRV record with its port, weight and priority; re-resolved on the records' TTL. Off, a hostname is one target that the operating system resolves per connection.",
  false,
);

export const resolveServiceField: S = bool(
  'When `host` is a hostname (not an upstream): balance across its DNS records as a target with `resolve` would (docs/discovery.md).',
  false,
);

export const fileSdSchema: S = {
  type: 'object',
  description:
    "Targets from a directory of files in Prometheus' `file_sd` format (docs/discovery.md): `*.json`, `*.yaml` and `*.yml` files, each a list of `{targets, labels}`; labels `weight`, `priority`, `zone` and `tags` (comma separated) set those fields. The directory is watched; a bad file is refused alone and logged while the others keep serving.",
  additionalProperties: false,
  required: ['directory'],
  properties: {
    directory: str('The directory, relative to the configuration file.', { minLength: 1 }),
    refresh_interval: seconds(
      'Seconds between full re-reads of the directory, besides watching it.',
      DEFAULT_FILE_SD_REFRESH_S,
    ),
  },
};

const ms = (s: number | undefined, dflt: number): number => Math.round((s ?? dflt) * 1000);

export function normalizeDns(src: ParsedSource, doc: Raw, issues: ConfigIssue[]): DnsSpec {
  const resolvers: DnsServer[] = [];
  ((doc.dns_resolver ?? []) as string[]).forEach((s, i) => {
    const hp = parseHostPort(s, 53);
    if (hp === null || isIP(hp.host) === 0)
      issues.push(
        src.issue(
          ['dns_resolver', i],
          `expected an IP address with an optional port, got ${JSON.stringify(s)}`,
        ),
      );
    else resolvers.push({ host: hp.host, port: hp.port });
  });
  return {
    resolvers,
    order: doc.dns_order ?? DEFAULT_DNS_ORDER,
    validTtlMs: doc.dns_valid_ttl === undefined ? null : ms(doc.dns_valid_ttl, 0),
    staleTtlMs: ms(doc.dns_stale_ttl, DEFAULT_DNS_STALE_TTL_S),
    errorTtlMs: ms(doc.dns_error_ttl, DEFAULT_DNS_ERROR_TTL_S),
    notFoundTtlMs: ms(doc.dns_not_found_ttl, DEFAULT_DNS_NOT_FOUND_TTL_S),
    hostsFile:
      doc.dns_hostsfile === '' ? '' : relativeToFile(src.file, doc.dns_hostsfile ?? DEFAULT_DNS_HOSTSFILE),
  };
}

export function normalizeFileSd(src: ParsedSource, raw: Raw | undefined, _at: PathPart[]): FileSdSpec | null {
  if (raw === undefined) return null;
  return {
    directory: relativeToFile(src.file, raw.directory),
    refreshMs: ms(raw.refresh_interval, DEFAULT_FILE_SD_REFRESH_S),
  };
}
