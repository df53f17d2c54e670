/**
 * A plugin's config JSON Schema in Kong's own schema form, as `GET /schemas/plugins/{name}`
 * answers it (kong/db/schema: `{fields: [{name: {type, default, required, elements, fields}}]}`),
 * so clients that read Kong's schemas (decK filling plugin defaults, Kong Manager-like UIs) can.
 */
type Raw = Record<string, unknown>;

function typeOf(s: Raw): string | undefined {
  const t = s.type;
  return Array.isArray(t) ? (t.find((x) => x !== 'null') as string | undefined) : (t as string | undefined);
}

/** One field of a Kong schema from a JSON Schema property. */
export function kongField(s: Raw, required = false): Raw {
  const out: Raw = {};
  const t = typeOf(s);
  if (t === 'object' && s.properties !== undefined) {
    out.type = 'record';
    out.fields = kongFields(s);
  } else if (t === 'object') {
    out.type = 'map';
    out.keys = { type: 'string' };
    const v = s.additionalProperties;
    out.values = v !== null && typeof v === 'object' ? kongField(v as Raw) : { type: 'string' };
  } else if (t === 'array') {
    out.type = s.uniqueItems === true ? 'set' : 'array';
    out.elements = kongField((s.items ?? {}) as Raw);
  } else out.type = t ?? 'string';
  if (s.default !== undefined) out.default = s.default;
  if (Array.isArray(s.enum)) out.one_of = s.enum;
  if (typeof s.minimum === 'number' && typeof s.maximum === 'number') out.between = [s.minimum, s.maximum];
  else if (typeof s.minimum === 'number') out.gt = s.minimum;
  if (typeof s.minLength === 'number') out.len_min = s.minLength;
  if (typeof s.description === 'string') out.description = s.description;
  out.required = required;
  return out;
}

export function kongFields(s: Raw): Raw[] {
  const required = new Set((s.required ?? []) as string[]);
  return Object.entries((s.properties ?? {}) as Record<string, Raw>).map(([k, p]) => ({
    [k]: kongField(p, required.has(k)),
  }));
}

/** `GET /schemas/plugins/{name}`: the plugin entity's fields with its config as a record. */
export function kongPluginSchema(config: Raw): Raw {
  return {
    fields: [
      {
        protocols: {
          type: 'set',
          default: ['grpc', 'grpcs', 'http', 'https'],
          required: true,
          elements: { type: 'string', one_of: ['grpc', 'grpcs', 'http', 'https', 'tcp', 'tls', 'udp'] },
        },
      },
      { config: { type: 'record', required: true, fields: kongFields(config) } },
    ],
  };
}
