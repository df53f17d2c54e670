/**
 * Lookups over the built-in plugins (builtins.ts holds the one list). The admin API reads each
 * plugin's config schema from here, and validates a config with `checkPluginConfig`.
 */
import { kongSchema } from '../config/kong-fields.ts';
import { BUILTINS } from './builtins.ts';
import type { AnyPlugin, ConfigProblem } from './types.ts';

const BY_NAME: ReadonlyMap<string, AnyPlugin> = new Map(BUILTINS.map((p) => [p.name, p]));

/** Each plugin's config schema with Kong's fields it accepts without acting on (its `kong` table). */
const SCHEMAS: ReadonlyMap<string, Record<string, unknown>> = new Map(
  BUILTINS.map((p) => [p.name, p.kong === undefined ? p.schema : kongSchema(p.schema, p.kong)]),
);

/** Higher priority first; equal priorities by name, so the order never depends on the list. */
const ORDERED: readonly AnyPlugin[] = [...BUILTINS].sort(
  (a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1),
);

export function pluginNames(): readonly string[] {
  return BUILTINS.map((p) => p.name);
}

export function pluginByName(name: string): AnyPlugin | null {
  return BY_NAME.get(name) ?? null;
}

export function pluginsByPriority(): readonly AnyPlugin[] {
  return ORDERED;
}

/** A plugin's config JSON Schema (the admin API's `/schemas/plugins/{name}`). */
export function pluginConfigSchema(name: string): Record<string, unknown> | null {
  return SCHEMAS.get(name) ?? null;
}

/**
 * JSON Schema rules that validate `config` by the plugin's `name`, for the file schema: one
 * if/then per plugin, so structural errors in a config carry their path like any other field.
 */
export function pluginConfigRules(): Record<string, unknown>[] {
  return BUILTINS.map((p) => ({
    if: { properties: { name: { const: p.name } }, required: ['name'] },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword
    then: { properties: { config: SCHEMAS.get(p.name) } },
  }));
}

/** Semantic checks of a structurally valid config: the normalized config and its problems. */
export function checkPluginConfig(
  name: string,
  raw: Record<string, unknown>,
): { config: Record<string, unknown>; problems: ConfigProblem[] } {
  const def = BY_NAME.get(name);
  if (!def)
    return { config: raw, problems: [{ path: [], message: `unknown plugin ${JSON.stringify(name)}` }] };
  const problems: ConfigProblem[] = [];
  const config = def.check(raw, problems) as Record<string, unknown>;
  return { config, problems };
}
