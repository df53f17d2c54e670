/**
 * Private key material in admin API replies: a certificate's `key` and `key_alt` (PEM private
 * keys) and a JWT credential's `secret` (an HMAC key that signs tokens for its consumer). Without
 * a token every admin request is anonymous, so these are replaced by REDACTED in every reply
 * (GET /config in JSON and YAML, /certificates, /consumers, the credential endpoints and the
 * replies to writes); with a token, whoever holds it reads them, as from Kong's admin API. Found by
 * shape (a string `cert` beside a string `key`; a string `secret` beside a string `key`), so an
 * endpoint added later that returns such an object is covered without knowing about it.
 */
import { REDACTED } from '../core/redacted.ts';

type Raw = Record<string, unknown>;

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** `value` with every private key and secret replaced by REDACTED (a copy; the input is kept). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Raw;
  const out: Raw = {};
  for (const [k, v] of Object.entries(o)) out[k] = redactSecrets(v);
  if (isText(o.key) && isText(o.cert)) {
    out.key = REDACTED;
    if (isText(o.key_alt)) out.key_alt = REDACTED;
  }
  if (isText(o.key) && isText(o.secret)) out.secret = REDACTED;
  return out;
}
