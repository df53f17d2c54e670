/**
 * An upstream's `healthchecks` object: Kong 3's schema (`active`, `passive`, `threshold`, with
 * Kong's field names, units and defaults), plus two Fulcrum fields Kong lacks (`passive`'s
 * `base_ejection_time` and `max_ejection_time`, Envoy's outlier-detection timing), normalized into
 * a frozen HealthchecksSpec. Times are seconds in the file (as Kong) and milliseconds in the spec.
 * docs/health.md documents every field beside Kong's and Envoy's defaults.
 */
import { decodeEscapes } from '../core/escapes.ts';
import { regexProblem } from '../core/linear-regex.ts';
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;
type S = Record<string, unknown>;

export interface ActiveHealthySpec {
  /** 0: healthy targets are not checked. */
  readonly intervalMs: number;
  readonly httpStatuses: readonly number[];
  /** Successes in a row that make an unhealthy target healthy; 0 disables. */
  readonly successes: number;
}

export interface UnhealthySpec {
  readonly httpStatuses: readonly number[];
  /** Failures in a row (of each kind) that make a healthy target unhealthy; 0 disables that kind. */
  readonly tcpFailures: number;
  readonly timeouts: number;
  readonly httpFailures: number;
}

export type ActiveCheckType = 'http' | 'https' | 'tcp' | 'udp' | 'grpc' | 'grpcs';

export interface ActiveCheckSpec {
  readonly type: ActiveCheckType;
  readonly httpPath: string;
  /** The probe's HTTP method. */
  readonly method: 'GET' | 'HEAD';
  /** Body match of HTTP probes: a substring, or a regular expression after a leading `~`. */
  readonly httpBody: string | undefined;
  /** Envoy's interval_jitter: each wait gets a random extra in [0, jitterMs). */
  readonly jitterMs: number;
  /** TCP probes: bytes to send once connected, and bytes the reply must contain (escaped text). */
  readonly tcpSend: string | undefined;
  readonly tcpExpect: string | undefined;
  /** UDP probes: the datagram sent (required), and bytes the reply must contain (any reply without). */
  readonly udpSend: string | undefined;
  readonly udpExpect: string | undefined;
  /** gRPC probes: the service name of the HealthCheckRequest ('' asks about the whole server). */
  readonly grpcService: string;
  readonly timeoutMs: number;
  readonly concurrency: number;
  /** Extra request headers, lower-case names; a `host` entry replaces the default Host. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly httpsSni: string | undefined;
  readonly httpsVerifyCertificate: boolean;
  readonly healthy: ActiveHealthySpec;
  readonly unhealthy: UnhealthySpec & { readonly intervalMs: number };
}

export interface PassiveCheckSpec {
  readonly type: 'http' | 'https' | 'tcp' | 'grpc' | 'grpcs';
  readonly healthy: { readonly httpStatuses: readonly number[]; readonly successes: number };
  readonly unhealthy: UnhealthySpec;
  /** Envoy's base_ejection_time: an ejected target returns after this × times ejected (no active checks). */
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  /** Envoy's max_ejection_percent: no passive ejection while this share of the targets is unhealthy. */
  readonly maxEjectionPercent: number;
  /** Envoy's success-rate outlier detection, or null when off. */
  readonly successRate: SuccessRateSpec | null;
}

export interface SuccessRateSpec {
  readonly intervalMs: number;
  /** Targets with at least `requestVolume` requests in the interval needed for a verdict. */
  readonly minimumHosts: number;
  readonly requestVolume: number;
  /** Eject below mean − (stdevFactor / 1000) × stdev. */
  readonly stdevFactor: number;
}

export interface HealthchecksSpec {
  readonly active: ActiveCheckSpec;
  readonly passive: PassiveCheckSpec;
  /** Panic threshold in percent of the upstream's weight (Envoy semantics); 0 disables. */
  readonly threshold: number;
  /** Whether active checks run: some interval is above 0. */
  readonly activeOn: boolean;
  /** Whether passive checks can eject: some unhealthy threshold is above 0. */
  readonly passiveOn: boolean;
}

const ACTIVE_HEALTHY_STATUSES = [200, 302];
const ACTIVE_UNHEALTHY_STATUSES = [429, 404, 500, 501, 502, 503, 504, 505];
const PASSIVE_HEALTHY_STATUSES = [
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
];
const PASSIVE_UNHEALTHY_STATUSES = [429, 500, 503];
/** Envoy's outlier-detection defaults. */
const BASE_EJECTION_S = 30;
const MAX_EJECTION_S = 300;
/** Envoy's success-rate defaults. */
const SUCCESS_RATE_INTERVAL_S = 10;
const SUCCESS_RATE_MINIMUM_HOSTS = 5;
const SUCCESS_RATE_REQUEST_VOLUME = 100;
const SUCCESS_RATE_STDEV_FACTOR = 1900;
/** Envoy's default panic threshold (Kong's `threshold` defaults to 0; see docs/health.md). */
const DEFAULT_THRESHOLD = 50;

const num = (description: string, min: number, max: number, dflt: number): S => ({
  type: 'number',
  description,
  minimum: min,
  maximum: max,
  default: dflt,
});
const int = (description: string, min: number, max: number, dflt: number): S => ({
  type: 'integer',
  description,
  minimum: min,
  maximum: max,
  default: dflt,
});
const statuses = (description: string, dflt: number[]): S => ({
  type: 'array',
  description,
  items: { type: 'integer', minimum: 100, maximum: 999 },
  default: dflt,
});
const counter = (what: string): S =>
  int(`${what} in a row that mark a healthy target unhealthy; 0 disables.`, 0, 255, 0);
const checkType = (description: string, types: readonly string[] = ['http', 'https', 'tcp']): S => ({
  type: 'string',
  enum: [...types],
  default: 'http',
  description,
});
const ACTIVE_TYPES: readonly ActiveCheckType[] = ['http', 'https', 'tcp', 'udp', 'grpc', 'grpcs'];
const payload = (description: string): S => ({ type: 'string', minLength: 1, description });
const obj = (description: string, properties: Record<string, S>): S => ({
  type: 'object',
  description,
  additionalProperties: false,
  properties,
});

const unhealthyProps = (statusesDefault: number[]): Record<string, S> => ({
  http_statuses: statuses('Statuses that count as an HTTP failure.', statusesDefault),
  tcp_failures: counter('Connection failures (refused, reset)'),
  timeouts: counter('Timeouts'),
  http_failures: counter('Responses with one of `http_statuses`'),
});

export const healthchecksSchema: S = obj(
  "Health checks (Kong's `healthchecks`): active probes, passive outcome counting, and the panic threshold. Every field is described in docs/health.md.",
  {
    active: obj('Active checks: probes sent to every target on a timer.', {
      type: checkType(
        '`http`/`https`: a request for `http_path`; `tcp`: a connection (with `tcp_send`/`tcp_expect`, an exchange); `udp`: a datagram (`udp_send`) and its reply; `grpc`/`grpcs`: grpc.health.v1.Health/Check over HTTP/2 (cleartext / TLS).',
        ACTIVE_TYPES,
      ),
      http_path: { type: 'string', pattern: '^/', default: '/', description: 'The path probed.' },
      method: {
        type: 'string',
        enum: ['GET', 'HEAD'],
        default: 'GET',
        description: 'Fulcrum extension (Envoy `method`): the method of `http`/`https` probes.',
      },
      http_body: {
        type: 'string',
        minLength: 1,
        description:
          'Fulcrum extension (HAProxy `http-check expect string`/`rstring`): the response body must contain this text, or match this regular expression when it starts with `~`; only the first 64 KiB are read. A success status whose body does not match is an HTTP failure. Not with `method: HEAD`.',
      },
      jitter: num(
        "Fulcrum extension (Envoy `interval_jitter`): seconds; each wait between probes gets a random extra in [0, jitter), so that many nodes' probes spread out. Not used by the nodes of a cluster, which probe on one schedule (docs/cluster.md).",
        0,
        65535,
        0,
      ),
      tcp_send: payload(
        'Fulcrum extension (HAProxy `tcp-check send`): bytes a `tcp` probe sends once connected; UTF-8 text with the escapes \\r \\n \\t \\0 \\\\ and \\xHH.',
      ),
      tcp_expect: payload(
        'Fulcrum extension (HAProxy `tcp-check expect string`): bytes (same escapes as `tcp_send`) the reply of a `tcp` probe must contain within `timeout`; only the first 64 KiB are read.',
      ),
      udp_send: payload(
        'Fulcrum extension: the datagram a `udp` probe sends (required with `type: udp`; same escapes as `tcp_send`).',
      ),
      grpc_service: {
        type: 'string',
        default: '',
        description:
          'Fulcrum extension (Envoy `grpc_health_check.service_name`): the service a `grpc`/`grpcs` probe asks about; empty asks about the whole server.',
      },
      udp_expect: payload(
        'Fulcrum extension: bytes the first reply datagram of a `udp` probe must contain within `timeout` (without it, any reply is a success).',
      ),
      timeout: num('Seconds a probe may take.', 0, 65535, 1),
      concurrency: int('Targets probed at once.', 1, 2147483647, 10),
      headers: {
        type: 'object',
        description: 'Extra probe headers: name → list of values. `Host` replaces the default.',
        additionalProperties: { type: 'array', items: { type: 'string' } },
      },
      https_sni: { type: 'string', description: 'The SNI of `https` probes (default: the target host).' },
      https_verify_certificate: {
        type: 'boolean',
        default: true,
        description: 'Verify the certificate of `https` probes.',
      },
      healthy: obj('Probing healthy targets.', {
        interval: num('Seconds between probes of a healthy target; 0 disables.', 0, 65535, 0),
        http_statuses: statuses('Statuses that count as a success.', ACTIVE_HEALTHY_STATUSES),
        successes: int('Successes in a row that mark an unhealthy target healthy; 0 disables.', 0, 255, 0),
      }),
      unhealthy: obj('Probing unhealthy targets.', {
        interval: num('Seconds between probes of an unhealthy target; 0 disables.', 0, 65535, 0),
        ...unhealthyProps(ACTIVE_UNHEALTHY_STATUSES),
      }),
    }),
    passive: obj('Passive checks: the outcome of proxied requests.', {
      type: checkType('Accepted for Kong compatibility (statuses are counted for every type).', [
        'http',
        'https',
        'tcp',
        'grpc',
        'grpcs',
      ]),
      healthy: obj('Outcomes that count as a success.', {
        http_statuses: statuses('Statuses that count as a success.', PASSIVE_HEALTHY_STATUSES),
        successes: int('Successes in a row that mark an unhealthy target healthy; 0 disables.', 0, 255, 0),
      }),
      unhealthy: obj('Outcomes that count as a failure.', unhealthyProps(PASSIVE_UNHEALTHY_STATUSES)),
      base_ejection_time: num(
        'Fulcrum extension (Envoy): without active checks to bring it back, an unhealthy target returns after this many seconds × the times it was ejected.',
        0.001,
        65535,
        BASE_EJECTION_S,
      ),
      max_ejection_time: num(
        'Fulcrum extension (Envoy): the longest ejection, in seconds.',
        0.001,
        65535,
        MAX_EJECTION_S,
      ),
      max_ejection_percent: num(
        "Fulcrum extension (Envoy `max_ejection_percent`): passive checks eject no target while this percentage of the upstream's targets is already unhealthy. The default, 100, never holds an ejection back (Kong's behaviour); Envoy's default is 10.",
        0,
        100,
        100,
      ),
      success_rate: obj(
        "Fulcrum extension (Envoy's success-rate outlier detection), off unless given: every `interval`, among the targets with at least `request_volume` requests in it, when at least `minimum_hosts` qualify, eject those whose success rate is below mean − (stdev_factor / 1000) × standard deviation.",
        {
          interval: num('Seconds between evaluations.', 0.001, 65535, SUCCESS_RATE_INTERVAL_S),
          minimum_hosts: int(
            'Targets with enough requests needed for a verdict.',
            1,
            2147483647,
            SUCCESS_RATE_MINIMUM_HOSTS,
          ),
          request_volume: int(
            'Requests in the interval a target needs to be judged.',
            1,
            2147483647,
            SUCCESS_RATE_REQUEST_VOLUME,
          ),
          stdev_factor: int(
            'Standard deviations below the mean, × 1000, that eject (1900: 1.9 σ).',
            0,
            2147483647,
            SUCCESS_RATE_STDEV_FACTOR,
          ),
        },
      ),
    }),
    threshold: num(
      "Panic threshold: when the healthy targets carry less than this percentage of the upstream's weight, every target takes traffic again (Envoy semantics; Kong instead fails the upstream). 0 disables.",
      0,
      100,
      DEFAULT_THRESHOLD,
    ),
  },
);

const ms = (s: number) => Math.round(s * 1000);

function unhealthyOf(u: Raw, dflt: number[]): UnhealthySpec {
  return {
    httpStatuses: u.http_statuses ?? dflt,
    tcpFailures: u.tcp_failures ?? 0,
    timeouts: u.timeouts ?? 0,
    httpFailures: u.http_failures ?? 0,
  };
}

/** A status listed as both a success and a failure cannot be classified: refuse it. */
function checkOverlap(
  src: ParsedSource,
  healthy: readonly number[],
  unhealthy: readonly number[],
  at: PathPart[],
  issues: ConfigIssue[],
): void {
  const ok = new Set(healthy);
  unhealthy.forEach((s, i) => {
    if (ok.has(s))
      issues.push(
        src.issue([...at, 'unhealthy', 'http_statuses', i], `status ${s} is also in healthy.http_statuses`),
      );
  });
}

/** Probe fields that the schema alone cannot check: payload escapes, the body regex, HEAD with a body. */
function checkProbeFields(
  src: ParsedSource,
  a: ActiveCheckSpec,
  at: PathPart[],
  issues: ConfigIssue[],
): void {
  const payloads: [string, string | undefined][] = [
    ['tcp_send', a.tcpSend],
    ['tcp_expect', a.tcpExpect],
    ['udp_send', a.udpSend],
    ['udp_expect', a.udpExpect],
  ];
  for (const [field, text] of payloads) {
    const bytes = text === undefined ? undefined : decodeEscapes(text);
    if (typeof bytes === 'string') issues.push(src.issue([...at, field], bytes));
  }
  const problem = a.httpBody?.startsWith('~') ? regexProblem(a.httpBody.slice(1)) : null;
  if (problem !== null) issues.push(src.issue([...at, 'http_body'], problem));
  if (a.type === 'udp' && a.udpSend === undefined)
    issues.push(src.issue([...at, 'type'], 'a udp check needs udp_send (the datagram to send)'));
  if (a.httpBody !== undefined && a.method === 'HEAD')
    issues.push(src.issue([...at, 'http_body'], 'a HEAD response has no body to match: use GET'));
}

function successRateOf(r: Raw | undefined): SuccessRateSpec | null {
  if (r === undefined) return null;
  return {
    intervalMs: ms(r.interval ?? SUCCESS_RATE_INTERVAL_S),
    minimumHosts: r.minimum_hosts ?? SUCCESS_RATE_MINIMUM_HOSTS,
    requestVolume: r.request_volume ?? SUCCESS_RATE_REQUEST_VOLUME,
    stdevFactor: r.stdev_factor ?? SUCCESS_RATE_STDEV_FACTOR,
  };
}

/** `raw` is the upstream's `healthchecks` value (or undefined); `at` its path. */
export function normalizeHealthchecks(
  src: ParsedSource,
  raw: Raw | undefined,
  at: PathPart[],
  issues: ConfigIssue[],
): HealthchecksSpec {
  const a: Raw = raw?.active ?? {};
  const p: Raw = raw?.passive ?? {};
  const ah: Raw = a.healthy ?? {};
  const au: Raw = a.unhealthy ?? {};
  const ph: Raw = p.healthy ?? {};
  const pu: Raw = p.unhealthy ?? {};
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries((a.headers ?? {}) as Record<string, string[]>))
    headers[k.toLowerCase()] = v;
  const active: ActiveCheckSpec = {
    type: a.type ?? 'http',
    httpPath: a.http_path ?? '/',
    method: a.method ?? 'GET',
    httpBody: a.http_body,
    jitterMs: ms(a.jitter ?? 0),
    tcpSend: a.tcp_send,
    tcpExpect: a.tcp_expect,
    udpSend: a.udp_send,
    udpExpect: a.udp_expect,
    grpcService: a.grpc_service ?? '',
    timeoutMs: ms(a.timeout ?? 1),
    concurrency: a.concurrency ?? 10,
    headers,
    httpsSni: a.https_sni,
    httpsVerifyCertificate: a.https_verify_certificate ?? true,
    healthy: {
      intervalMs: ms(ah.interval ?? 0),
      httpStatuses: ah.http_statuses ?? ACTIVE_HEALTHY_STATUSES,
      successes: ah.successes ?? 0,
    },
    unhealthy: { intervalMs: ms(au.interval ?? 0), ...unhealthyOf(au, ACTIVE_UNHEALTHY_STATUSES) },
  };
  const passive: PassiveCheckSpec = {
    type: p.type ?? 'http',
    healthy: { httpStatuses: ph.http_statuses ?? PASSIVE_HEALTHY_STATUSES, successes: ph.successes ?? 0 },
    unhealthy: unhealthyOf(pu, PASSIVE_UNHEALTHY_STATUSES),
    baseEjectionMs: ms(p.base_ejection_time ?? BASE_EJECTION_S),
    maxEjectionMs: ms(p.max_ejection_time ?? MAX_EJECTION_S),
    maxEjectionPercent: p.max_ejection_percent ?? 100,
    successRate: successRateOf(p.success_rate),
  };
  const activeOn = active.healthy.intervalMs > 0 || active.unhealthy.intervalMs > 0;
  const pun = passive.unhealthy;
  const passiveOn =
    pun.tcpFailures > 0 || pun.timeouts > 0 || pun.httpFailures > 0 || passive.successRate !== null;
  const hc = [...at, 'healthchecks'];
  if (activeOn && active.timeoutMs === 0)
    issues.push(src.issue([...hc, 'active', 'timeout'], 'expected a timeout above 0 when active checks run'));
  checkOverlap(src, active.healthy.httpStatuses, active.unhealthy.httpStatuses, [...hc, 'active'], issues);
  checkProbeFields(src, active, [...hc, 'active'], issues);
  checkOverlap(src, passive.healthy.httpStatuses, pun.httpStatuses, [...hc, 'passive'], issues);
  if (passive.maxEjectionMs < passive.baseEjectionMs)
    issues.push(
      src.issue(
        [...hc, 'passive', 'max_ejection_time'],
        `expected at least base_ejection_time (${passive.baseEjectionMs / 1000})`,
      ),
    );
  return { active, passive, threshold: raw?.threshold ?? DEFAULT_THRESHOLD, activeOn, passiveOn };
}

/** What an upstream without `healthchecks` gets (and every implicit one-target upstream). */
export const DEFAULT_HEALTHCHECKS: HealthchecksSpec = Object.freeze(
  normalizeHealthchecks(
    {
      file: '<default>',
      value: null,
      locate: () => ({ line: 0, column: 0 }),
      issue: (_path, message) => ({ file: '<default>', line: 0, column: 0, path: '', message }),
    },
    undefined,
    [],
    [],
  ),
);
