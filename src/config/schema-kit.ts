/** Small builders for the JSON Schema in schema.ts and node-schema.ts (plain objects, no library). */

export type S = Record<string, unknown>;

export const str = (description: string, extra: S = {}): S => ({ type: 'string', description, ...extra });
export const bool = (description: string, dflt: boolean): S => ({
  type: 'boolean',
  description,
  default: dflt,
});
export const int = (description: string, min: number, max: number, dflt?: number): S => ({
  type: 'integer',
  description,
  minimum: min,
  maximum: max,
  ...(dflt === undefined ? {} : { default: dflt }),
});
export const strList = (description: string, item: S = {}): S => ({
  type: 'array',
  description,
  items: { type: 'string', ...item },
});

/** The largest millisecond value a Node timer accepts. */
export const MS_MAX = 2_147_483_646;

/**
 * The defaults of a schema's properties, for the normalizer to take from the schema rather than
 * repeat (so a default changed once is the file's, the admin API's and the generated docs' alike).
 */
export function defaultsOf(schema: S): Readonly<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries((schema.properties ?? {}) as Record<string, S>))
    if (p.default !== undefined) out[k] = p.default;
  return out;
}
