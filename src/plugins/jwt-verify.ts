/**
 * JSON Web Signature verification for the jwt plugin (RFC 7515, RFC 7518 algorithms, RFC 8037
 * EdDSA), on node:crypto alone. The algorithm is the credential's, never the token's: a token whose
 * header names another algorithm is refused before any key is used (no `none`, no HS/RS confusion).
 */
import { Buffer } from 'node:buffer';
import { constants, createHmac, createPublicKey, type KeyObject, timingSafeEqual, verify } from 'node:crypto';

export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
/** The key type (and EC curve) each asymmetric family needs. */
const KEY_TYPE: Record<string, string> = { RS: 'rsa', PS: 'rsa', ES: 'ec', Ed: 'ed25519|ed448' };
const CURVE: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** A verifier bound to one credential's algorithm and key. */
export interface JwtKey {
  readonly algorithm: JwtAlgorithm;
  verify(signingInput: string, signature: Buffer): boolean;
}

/** Why a key cannot be used with an algorithm, or null. */
export function checkJwtKey(algorithm: string, secret: string, pem: string): string | null {
  if (algorithm.startsWith('HS')) return secret === '' ? `algorithm ${algorithm} needs a "secret"` : null;
  if (pem === '') return `algorithm ${algorithm} needs an "rsa_public_key" (a PEM public key)`;
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    return `"rsa_public_key" is not a PEM public key: ${(err as Error).message}`;
  }
  return keyMismatch(algorithm, key);
}

/** Why a public key cannot verify an asymmetric algorithm (type, curve), or null. */
export function keyMismatch(algorithm: string, key: KeyObject): string | null {
  const want = KEY_TYPE[algorithm.slice(0, 2)];
  if (want === undefined) return `algorithm ${algorithm} takes no public key`;
  if (!want.split('|').includes(key.asymmetricKeyType ?? ''))
    return `algorithm ${algorithm} needs a ${want.replace('|', ' or ')} key, got ${key.asymmetricKeyType}`;
  const curve = CURVE[algorithm];
  if (curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== curve)
    return `algorithm ${algorithm} needs the ${curve} curve, got ${key.asymmetricKeyDetails?.namedCurve}`;
  return null;
}

/** Build the verifier; the key was checked by checkJwtKey at load time. */
export function jwtKey(algorithm: JwtAlgorithm, secret: Buffer, pem: string | KeyObject): JwtKey {
  const family = algorithm.slice(0, 2);
  const hash = HASH[algorithm.slice(2)] ?? 'sha256';
  if (family === 'HS')
    return {
      algorithm,
      verify(input, sig) {
        const mac = createHmac(hash, secret).update(input).digest();
        return mac.length === sig.length && timingSafeEqual(mac, sig);
      },
    };
  const key = typeof pem === 'string' ? createPublicKey(pem) : pem;
  if (algorithm === 'EdDSA')
    return { algorithm, verify: (input, sig) => verify(null, Buffer.from(input), key, sig) };
  const opts =
    family === 'PS'
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : family === 'ES'
        ? { key, dsaEncoding: 'ieee-p1363' as const }
        : { key, padding: constants.RSA_PKCS1_PADDING };
  return { algorithm, verify: (input, sig) => verify(hash, Buffer.from(input), opts, sig) };
}

export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  readonly signingInput: string;
  readonly signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function json(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Split and decode a compact JWS; null when it is not one. */
export function decodeJwt(token: string): DecodedJwt | null {
  if (token.length > 16384) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return null;
  const header = json(parts[0]!);
  const claims = json(parts[1]!);
  if (header === null || claims === null) return null;
  return {
    header,
    claims,
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2]!, 'base64url'),
  };
}
