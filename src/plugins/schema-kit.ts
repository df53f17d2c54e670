/** Small JSON Schema builders for plugin configs (schema.ts has its own; plugins cannot import it). */
type S = Record<string, unknown>;

export const str = (description: string, extra: S = {}): S => ({ type: 'string', description, ...extra });
export const bool = (description: string, dflt: boolean): S => ({
  type: 'boolean',
  description,
  default: dflt,
});
export const int = (description: string, min: number, max: number, extra: S = {}): S => ({
  type: 'integer',
  description,
  minimum: min,
  maximum: max,
  ...extra,
});
export const strList = (description: string, extra: S = {}, item: S = {}): S => ({
  type: 'array',
  description,
  items: { type: 'string', ...item },
  ...extra,
});
/** A nullable string (Kong writes unset optional fields as null). */
export const optStr = (description: string, extra: S = {}): S => ({
  type: ['string', 'null'],
  description,
  ...extra,
});
export const obj = (description: string, properties: S, extra: S = {}): S => ({
  type: 'object',
  description,
  additionalProperties: false,
  properties,
  default: {},
  ...extra,
});
