/**
 * Upstreams with their targets (nested, or top-level naming their upstream by name or id), and
 * the implicit one-target upstream of a service that names a host directly. One part of
 * normalize() (normalize.ts has the whole).
 */
import { isIP } from 'node:net';
import { DEFAULT_BALANCING, normalizeBalancing } from './balancing.ts';
import { normalizeFileSd } from './discovery.ts';
import { canonicalTarget, idOf, refKey, targetId, uuidFrom } from './entity-ids.ts';
import { DEFAULT_HEALTHCHECKS, normalizeHealthchecks } from './healthchecks.ts';
import { type ConfigIssue, formatPath, type ParsedSource, type PathPart } from './load.ts';
import { DEFAULT_CIRCUIT_BREAKER, normalizeCircuitBreaker } from './resilience.ts';
import { targetSchema } from './schema.ts';
import { defaultsOf } from './schema-kit.ts';
import { normalizeSticky } from './sticky.ts';
import type { Problem, TargetSpec, UpstreamSpec } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** The target defaults, from the schema. */
const D: Raw = defaultsOf(targetSchema);

function normalizeTargets(
  src: ParsedSource,
  upstream: string,
  raws: { raw: Raw; at: PathPart[] }[],
  issues: ConfigIssue[],
): TargetSpec[] {
  const seen = new Map<string, string>();
  const out: TargetSpec[] = [];
  for (const { raw, at } of raws) {
    const hp = canonicalTarget(raw.target);
    if (!hp) {
      issues.push(
        src.issue(
          [...at, 'target'],
          `expected host:port (hostname or IP, port 1-65535), got ${JSON.stringify(raw.target)}`,
        ),
      );
      continue;
    }
    const target = hp.target;
    if (seen.has(target)) {
      issues.push(
        src.issue(
          [...at, 'target'],
          `duplicate target ${target} in upstream ${JSON.stringify(upstream)} (first at ${seen.get(target)})`,
        ),
      );
      continue;
    }
    seen.set(target, formatPath(at));
    out.push({
      id: targetId(raw, upstream),
      target,
      host: hp.host,
      port: hp.port,
      weight: raw.weight ?? D.weight,
      priority: raw.priority ?? D.priority,
      zone: raw.zone ?? '',
      tags: raw.tags ?? [],
      ...(raw.resolve === true && isIP(hp.host) === 0 ? { resolve: true } : {}),
    });
  }
  return out;
}

/** Every upstream of the document by name, with its targets. */
export function normalizeUpstreams(
  src: ParsedSource,
  doc: Raw,
  issues: ConfigIssue[],
  problems: Problem[],
): Map<string, UpstreamSpec> {
  const upstreamRaw = new Map<
    string,
    { raw: Raw; at: PathPart[]; targets: { raw: Raw; at: PathPart[] }[] }
  >();
  const byId = new Map<string, string>();
  (doc.upstreams ?? []).forEach((u: Raw, i: number) => {
    upstreamRaw.set(u.name, {
      raw: u,
      at: ['upstreams', i],
      targets: (u.targets ?? []).map((t: Raw, j: number) => ({ raw: t, at: ['upstreams', i, 'targets', j] })),
    });
    byId.set(idOf('upstream', u, u.name), u.name);
  });
  (doc.targets ?? []).forEach((t: Raw, i: number) => {
    const key = refKey(t.upstream);
    const u = key === null ? undefined : (upstreamRaw.get(key) ?? upstreamRaw.get(byId.get(key) ?? ''));
    if (!u)
      problems.push({
        path: formatPath(['targets', i]),
        message: `upstream ${JSON.stringify(key)} does not exist; target ignored`,
      });
    else u.targets.push({ raw: t, at: ['targets', i] });
  });
  const upstreams = new Map<string, UpstreamSpec>();
  for (const [name, u] of upstreamRaw) {
    upstreams.set(name, {
      id: idOf('upstream', u.raw, name),
      name,
      ...normalizeBalancing(src, u.raw, u.at, issues),
      hostHeader: u.raw.host_header,
      ...(u.raw.use_srv_name === true ? { useSrvName: true } : {}),
      healthchecks: normalizeHealthchecks(src, u.raw.healthchecks, u.at, issues),
      circuitBreaker: normalizeCircuitBreaker(src, u.raw.circuit_breaker, u.raw.retry_budget, u.at, issues),
      sticky: normalizeSticky(src, u.raw, u.at, issues),
      targets: normalizeTargets(src, name, u.targets, issues),
      ...(u.raw.file_sd === undefined ? {} : { fileSd: normalizeFileSd(src, u.raw.file_sd, u.at) }),
      ...(u.raw.registry === true ? { registry: true } : {}),
      implicit: false,
      tags: u.raw.tags ?? [],
    });
  }
  return upstreams;
}

/**
 * The upstream of a service that names `host:port` directly: one target, the defaults; with the
 * service's `resolve`, a hostname expands to one target per DNS record (src/discovery/).
 */
export function implicitUpstream(name: string, host: string, port: number, resolve = false): UpstreamSpec {
  return {
    id: uuidFrom('upstream', name),
    name,
    ...DEFAULT_BALANCING,
    hostHeader: undefined,
    healthchecks: DEFAULT_HEALTHCHECKS,
    circuitBreaker: DEFAULT_CIRCUIT_BREAKER,
    sticky: null,
    targets: [
      {
        id: uuidFrom('target', name),
        target: name,
        host,
        port,
        weight: 100,
        priority: 0,
        zone: '',
        tags: [],
        ...(resolve && isIP(host) === 0 ? { resolve: true } : {}),
      },
    ],
    implicit: true,
    tags: [],
  };
}
