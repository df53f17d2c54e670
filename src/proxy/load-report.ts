/**
 * The measurement half of `resource` balancing: a target's load report, read from its response
 * headers on the response path and stored on the target (TargetState.observeLoad), where the
 * picker reads it. Only upstreams using `resource` pay for this (the forwarder checks for a header
 * name first).
 */
import { parseLoad } from '../balancers/resource.ts';
import type { TargetState } from '../upstreams/target.ts';

/** Finds `name` (lower case) among undici's raw response headers and records its load on `t`. */
export function reportLoad(rawHeaders: readonly Buffer[], name: string, t: TargetState, nowMs: number): void {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const h = rawHeaders[i]!;
    if (h.length !== name.length || h.toString('latin1').toLowerCase() !== name) continue;
    const load = parseLoad(rawHeaders[i + 1]!.toString('latin1'));
    if (load >= 0) t.observeLoad(load, nowMs);
    return;
  }
}
