/**
 * traffic-split: send a share of a route's requests to other services, for canary and A/B
 * releases (APISIX's traffic-split and Vamp-router are the peers; Kong has no open-source one).
 * Rules are tried in order; the first whose `match` passes (every named header, cookie or query
 * argument has one of the listed values; no `match` passes always) picks a service by weight.
 * The pick is random, or sticky: a hash of the client address, consumer, header or cookie maps
 * the same client to the same service while the weights stay the same.
 */
import type { Rng } from '../core/random.ts';
import { readCookie } from '../proxy/hash-key.ts';
import { int, str } from './schema-kit.ts';
import type { ConfigProblem, PluginDef, PluginRequest } from './types.ts';

type Values = Readonly<Record<string, readonly string[]>>;

export interface SplitRule {
  readonly match: { readonly headers: Values; readonly cookies: Values; readonly query: Values } | null;
  /** `service` null: the route's own service. */
  readonly services: readonly { readonly service: string | null; readonly weight: number }[];
}

export interface TrafficSplitConfig {
  readonly rules: readonly SplitRule[];
  readonly sticky_by: 'none' | 'ip' | 'consumer' | 'header' | 'cookie';
  readonly sticky_name: string | null;
}

interface Built {
  readonly conf: TrafficSplitConfig;
  readonly rng: Rng;
  readonly stickyName: string;
}

const valuesSchema = (what: string) => ({
  type: 'object',
  description: `${what} name → accepted values (exact).`,
  additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 },
});

/** FNV-1a, 32 bits: a stable hash for sticky picks. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function matches(r: PluginRequest, m: NonNullable<SplitRule['match']>): boolean {
  for (const name in m.headers) {
    const v = r.header(name);
    if (typeof v !== 'string' || !m.headers[name]!.includes(v)) return false;
  }
  for (const name in m.cookies) {
    const v = readCookie(r.header('cookie'), name);
    if (v === null || !m.cookies[name]!.includes(v)) return false;
  }
  if (Object.keys(m.query).length > 0) {
    const q = new URLSearchParams(r.query.slice(1));
    for (const name in m.query) {
      const v = q.get(name);
      if (v === null || !m.query[name]!.includes(v)) return false;
    }
  }
  return true;
}

function stickyKey(r: PluginRequest, b: Built): string | null {
  switch (b.conf.sticky_by) {
    case 'ip':
      return r.realIp();
    case 'consumer':
      return r.consumer?.id ?? null;
    case 'header': {
      const v = r.header(b.stickyName);
      return typeof v === 'string' ? v : null;
    }
    case 'cookie':
      return readCookie(r.header('cookie'), b.conf.sticky_name ?? '');
    default:
      return null;
  }
}

export const trafficSplit: PluginDef<TrafficSplitConfig, Built> = {
  name: 'traffic-split',
  priority: 750,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['rules'],
    properties: {
      rules: {
        type: 'array',
        minItems: 1,
        description: 'Tried in order; the first that matches picks the service.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['services'],
          properties: {
            match: {
              type: 'object',
              additionalProperties: false,
              description: 'What the request must carry; unset: every request.',
              properties: {
                headers: valuesSchema('Header'),
                cookies: valuesSchema('Cookie'),
                query: valuesSchema('Query argument'),
              },
            },
            services: {
              type: 'array',
              minItems: 1,
              description: 'Weighted services.',
              items: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  service: str("A service's name; unset: the route's own service."),
                  weight: int("Share of the rule's requests, relative to the others.", 0, 10000, {
                    default: 1,
                  }),
                },
              },
            },
          },
        },
      },
      sticky_by: {
        type: 'string',
        enum: ['none', 'ip', 'consumer', 'header', 'cookie'],
        default: 'none',
        description: 'Keep a client on one service: by client address, consumer, a header or a cookie.',
      },
      sticky_name: str('The header or cookie for `sticky_by: header` or `cookie`.'),
    },
  },
  check(raw, problems: ConfigProblem[]): TrafficSplitConfig {
    const lower = (o: Record<string, string[]> | undefined) =>
      Object.fromEntries(Object.entries(o ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const rules = ((raw.rules as Record<string, never>[] | undefined) ?? []).map((r) => {
      const m = r.match as Record<string, Record<string, string[]>> | undefined;
      return {
        match:
          m === undefined
            ? null
            : { headers: lower(m.headers), cookies: m.cookies ?? {}, query: m.query ?? {} },
        services: ((r.services as { service?: string; weight?: number }[] | undefined) ?? []).map((s) => ({
          service: s.service ?? null,
          weight: s.weight ?? 1,
        })),
      };
    });
    const stickyBy = (raw.sticky_by as TrafficSplitConfig['sticky_by'] | undefined) ?? 'none';
    const stickyName = (raw.sticky_name as string | undefined) ?? null;
    if ((stickyBy === 'header' || stickyBy === 'cookie') && !stickyName)
      problems.push({ path: ['sticky_name'], message: `sticky_by "${stickyBy}" needs a sticky_name` });
    return { rules, sticky_by: stickyBy, sticky_name: stickyName };
  },
  serviceRefs(conf) {
    const out: { path: (string | number)[]; name: string }[] = [];
    conf.rules.forEach((r, i) => {
      r.services.forEach((s, j) => {
        if (s.service !== null) out.push({ path: ['rules', i, 'services', j, 'service'], name: s.service });
      });
    });
    return out;
  },
  build(conf, env) {
    return { conf, rng: env.rng, stickyName: (conf.sticky_name ?? '').toLowerCase() };
  },
  access(r, b) {
    for (const rule of b.conf.rules) {
      if (rule.match !== null && !matches(r, rule.match)) continue;
      let total = 0;
      for (const s of rule.services) total += s.weight;
      if (total === 0) return null;
      const key = stickyKey(r, b);
      let at = key === null ? Math.floor(b.rng.next() * total) : fnv1a(key) % total;
      for (const s of rule.services) {
        if (at < s.weight) {
          r.serviceOverride = s.service;
          return null;
        }
        at -= s.weight;
      }
      return null;
    }
    return null;
  },
};
