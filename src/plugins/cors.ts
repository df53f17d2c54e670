/**
 * cors: Cross-Origin Resource Sharing (Kong's cors; the Fetch standard's CORS protocol).
 * A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered at the edge with
 * 200 unless `preflight_continue`; other responses get the Access-Control-Allow-* headers in the
 * header_filter phase. An `origins` entry is `*`, an exact origin, or a regular expression (any
 * entry with a regex metacharacter other than `.` and `:`), anchored at both ends.
 */
import { native } from '../config/kong-fields.ts';
import { linearRegExp, regexProblem } from '../core/linear-regex.ts';
import { bool, strList } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef, PluginRequest } from './types.ts';

export interface CorsConfig {
  readonly origins: readonly string[];
  readonly methods: readonly string[];
  readonly headers: readonly string[];
  readonly exposed_headers: readonly string[];
  readonly credentials: boolean;
  readonly max_age: number | null;
  readonly preflight_continue: boolean;
  readonly private_network: boolean;
  readonly allow_origin_absent: boolean;
}

interface Built {
  readonly conf: CorsConfig;
  readonly any: boolean;
  readonly exact: ReadonlySet<string>;
  readonly patterns: readonly RegExp[];
  readonly methods: string;
}

const DEFAULT_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'];
const REGEX_META = /[\\^$*+?()[\]{}|]/;

/** The Access-Control-Allow-Origin value for this request, or null when the origin is not allowed. */
function allowOrigin(b: Built, origin: string | undefined): string | null {
  if (b.any) return b.conf.credentials && origin !== undefined ? origin : '*';
  if (origin === undefined) return null;
  if (b.exact.has(origin)) return origin;
  for (const re of b.patterns) if (re.test(origin)) return origin;
  return null;
}

/** A preflight this plugin answers itself (its header_filter then has nothing to add). */
function answersPreflight(r: PluginRequest, b: Built): boolean {
  return (
    !b.conf.preflight_continue &&
    r.method === 'OPTIONS' &&
    r.header('origin') !== undefined &&
    r.header('access-control-request-method') !== undefined
  );
}

function originOf(r: PluginRequest): string | undefined {
  const o = r.header('origin');
  return typeof o === 'string' ? o : undefined;
}

export const cors: PluginDef<CorsConfig, Built> = {
  name: 'cors',
  priority: 2000,
  noConsumer: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      origins: strList('Allowed origins: `*`, exact origins, or anchored regexes. Empty: any (`*`).'),
      methods: strList('Methods in Access-Control-Allow-Methods.', { default: DEFAULT_METHODS }),
      headers: strList(
        "Headers in Access-Control-Allow-Headers. Empty: the preflight's Access-Control-Request-Headers is echoed.",
      ),
      exposed_headers: strList('Headers in Access-Control-Expose-Headers.'),
      credentials: bool(
        'Send Access-Control-Allow-Credentials: true (the origin is echoed instead of `*`).',
        false,
      ),
      max_age: { type: ['integer', 'null'], minimum: 0, description: 'Access-Control-Max-Age, in seconds.' },
      preflight_continue: bool('Proxy preflight requests to the target instead of answering them.', false),
      private_network: bool(
        'Answer a preflight carrying `Access-Control-Request-Private-Network: true` with `Access-Control-Allow-Private-Network: true`.',
        false,
      ),
      allow_origin_absent: bool(
        'Add the CORS headers to requests without an Origin header too; off, such requests get none.',
        true,
      ),
    },
  },
  kong: {
    origins: native(['https://app.example.com']),
    headers: native(['x-token']),
    exposed_headers: native(['x-total']),
    methods: native(['GET', 'POST']),
    max_age: native(3600),
    credentials: native(true),
    private_network: native(true),
    preflight_continue: native(true),
    allow_origin_absent: native(false),
  },
  check(raw, problems: ConfigProblem[]): CorsConfig {
    const origins = (raw.origins as string[] | undefined) ?? [];
    origins.forEach((o, i) => {
      const problem = o !== '*' && REGEX_META.test(o) ? regexProblem(o) : null;
      if (problem !== null) problems.push({ path: ['origins', i], message: problem });
    });
    return {
      origins,
      methods: (raw.methods as string[] | undefined) ?? DEFAULT_METHODS,
      headers: (raw.headers as string[] | undefined) ?? [],
      exposed_headers: (raw.exposed_headers as string[] | undefined) ?? [],
      credentials: (raw.credentials as boolean | undefined) ?? false,
      max_age: (raw.max_age as number | null | undefined) ?? null,
      preflight_continue: (raw.preflight_continue as boolean | undefined) ?? false,
      private_network: (raw.private_network as boolean | undefined) ?? false,
      allow_origin_absent: (raw.allow_origin_absent as boolean | undefined) ?? true,
    };
  },
  build(conf) {
    const any = conf.origins.length === 0 || conf.origins.includes('*');
    const exact = new Set<string>();
    const patterns: RegExp[] = [];
    for (const o of conf.origins) {
      if (o === '*') continue;
      if (REGEX_META.test(o)) patterns.push(linearRegExp(o, {}, '^(?:', ')$'));
      else exact.add(o);
    }
    return { conf, any, exact, patterns, methods: conf.methods.join(',') };
  },
  access(r, b) {
    if (!answersPreflight(r, b)) return null;
    const headers: Record<string, string> = {};
    const origin = allowOrigin(b, originOf(r));
    if (origin !== null) headers['access-control-allow-origin'] = origin;
    if (origin !== null && origin !== '*') headers.vary = 'Origin';
    if (b.conf.credentials) headers['access-control-allow-credentials'] = 'true';
    headers['access-control-allow-methods'] = b.methods;
    const asked = r.header('access-control-request-headers');
    const allowHeaders =
      b.conf.headers.length > 0 ? b.conf.headers.join(',') : typeof asked === 'string' ? asked : '';
    if (allowHeaders !== '') headers['access-control-allow-headers'] = allowHeaders;
    if (b.conf.max_age !== null) headers['access-control-max-age'] = String(b.conf.max_age);
    if (b.conf.private_network && r.header('access-control-request-private-network') === 'true')
      headers['access-control-allow-private-network'] = 'true';
    return { status: 200, reason: 'preflight', headers } satisfies LocalReply;
  },
  headerFilter(r, b, head) {
    if (head.local && answersPreflight(r, b)) return;
    const hs = head.headers;
    const given = originOf(r);
    if (given === undefined && !b.conf.allow_origin_absent) return;
    const origin = allowOrigin(b, given);
    if (origin === null) return;
    hs.push('access-control-allow-origin', origin);
    if (origin !== '*') hs.push('vary', 'Origin');
    if (b.conf.credentials) hs.push('access-control-allow-credentials', 'true');
    if (b.conf.exposed_headers.length > 0)
      hs.push('access-control-expose-headers', b.conf.exposed_headers.join(','));
  },
};
