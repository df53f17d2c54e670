/**
 * The measurement half of `resource` balancing: a target's load report, read from its response
 * headers on the response path and stored on the target (TargetState.observeLoad), where the
 * picker reads it. Only upstreams using `resource` pay for this (the forwarder checks for a header
 * name first).
 */
import { parseLoad } from '../balancers/resource.ts';
import type { Fields } from '../http1/fields.ts';
import type { TargetState } from '../upstreams/target.ts';

/** Finds `name` (lower case) among a response's fields and records its load on `t`. */
export function reportLoad(fields: Fields, name: string, t: TargetState, nowMs: number): void {
  const i = fields.indexOf(name);
  if (i < 0) return;
  const load = parseLoad(fields.value(i));
  if (load >= 0) t.observeLoad(load, nowMs);
}
