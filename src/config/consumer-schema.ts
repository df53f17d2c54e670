/**
 * The JSON Schema of consumers and their credentials (Kong's consumers, keyauth_credentials,
 * basicauth_credentials, jwt_secrets and acls), nested in a consumer or given at the top level
 * with a `consumer` reference, as Kong's declarative format allows both. Their Kong-only fields
 * come from the tables in kong-entities.ts.
 */
import { JWT_ALGORITHMS } from '../plugins/jwt-verify.ts';
import {
  KONG_ACL,
  KONG_BASICAUTH_CREDENTIAL,
  KONG_CONSUMER,
  KONG_JWT_SECRET,
  KONG_KEYAUTH_CREDENTIAL,
} from './kong-entities.ts';
import { kongSchema } from './kong-fields.ts';
import { type S, str, strList } from './schema-kit.ts';

const tags = strList('Free-form labels, for your own bookkeeping and to filter objects in the admin API.');
const id = str(
  'A UUID. When omitted, a stable one is derived from the name (or the position in the file), so the same file always gives the same ids.',
);

/** A reference to another object: its name or id, or `{"id": ...}` / `{"name": ...}` as dumps write it. */
export function refSchema(description: string): S {
  return {
    description,
    anyOf: [
      { type: 'string', minLength: 1 },
      {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        maxProperties: 1,
        properties: { id: { type: 'string' }, name: { type: 'string' }, username: { type: 'string' } },
      },
    ],
  };
}

const keyauthCredential: S = kongSchema(
  {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: { id, key: str('The API key.', { minLength: 1 }), tags },
  },
  KONG_KEYAUTH_CREDENTIAL,
);

const basicauthCredential: S = kongSchema(
  {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: {
      id,
      username: str('The username.', { minLength: 1 }),
      password: str(
        "The password: in clear (hashed on load), or with the top-level `_transform: false` Kong's stored hash.",
      ),
      tags,
    },
  },
  KONG_BASICAUTH_CREDENTIAL,
);

const jwtSecret: S = kongSchema(
  {
    type: 'object',
    additionalProperties: false,
    required: ['key'],
    properties: {
      id,
      key: str('The token claim value (`iss` by default) that selects this secret.', { minLength: 1 }),
      algorithm: str('The signing algorithm tokens must use.', {
        enum: [...JWT_ALGORITHMS],
        default: 'HS256',
      }),
      secret: str('HMAC algorithms: the shared secret.'),
      rsa_public_key: str('Asymmetric algorithms (RS*, PS*, ES*, EdDSA): the PEM public key.'),
      jwks_uri: str(
        'Fulcrum addition, asymmetric algorithms: an http(s) URL of a JSON Web Key Set; the token header `kid` picks the key (instead of `rsa_public_key`). Fetched and cached as the jwt plugin `jwks_*` fields say.',
        { pattern: '^https?://' },
      ),
      tags,
    },
  },
  KONG_JWT_SECRET,
);

const aclGroup: S = kongSchema(
  {
    type: 'object',
    additionalProperties: false,
    required: ['group'],
    properties: { id, group: str('The group name.', { minLength: 1 }), tags },
  },
  KONG_ACL,
);

/** The credential collections: declarative name, item schema, and what it is for. */
export const CREDENTIAL_COLLECTIONS: readonly { name: string; item: S; description: string }[] = [
  {
    name: 'keyauth_credentials',
    item: keyauthCredential,
    description: 'API keys of this consumer (key-auth). Each key is unique across consumers.',
  },
  {
    name: 'basicauth_credentials',
    item: basicauthCredential,
    description:
      'Username and password pairs of this consumer (basic-auth). Passwords are kept hashed in memory; usernames are unique across consumers.',
  },
  {
    name: 'jwt_secrets',
    item: jwtSecret,
    description:
      "Keys that verify this consumer's JSON Web Tokens (jwt). Each `key` is unique across consumers.",
  },
  { name: 'acls', item: aclGroup, description: 'Groups this consumer belongs to (acl).' },
];

/** Kong credential collections Fulcrum has no plugin for: refused with a clear message (normalize). */
export const UNSUPPORTED_CREDENTIALS: Readonly<Record<string, string>> = {
  hmacauth_credentials: 'hmac-auth',
  oauth2_credentials: 'oauth2',
};

const unsupported = (plugin: string): S => ({
  type: 'array',
  description: `Kong's ${plugin} credentials: refused, ${plugin} is not built in.`,
});

export function consumerSchemaWith(pluginRef: S): S {
  return kongSchema(
    {
      type: 'object',
      description: 'An identity with credentials.',
      additionalProperties: false,
      anyOf: [{ required: ['username'] }, { required: ['custom_id'] }],
      properties: {
        id,
        username: str('A unique name.'),
        custom_id: str('An id from another system.'),
        plugins: { type: 'array', description: 'Plugins scoped to this consumer.', items: pluginRef },
        ...Object.fromEntries(
          CREDENTIAL_COLLECTIONS.map((c) => [
            c.name,
            { type: 'array', description: c.description, items: c.item },
          ]),
        ),
        ...Object.fromEntries(Object.entries(UNSUPPORTED_CREDENTIALS).map(([k, p]) => [k, unsupported(p)])),
        tags,
      },
    },
    KONG_CONSUMER,
  );
}

/** The top-level forms: each item names its `consumer` (by id or username). */
export function topLevelCredentials(): Record<string, S> {
  const out: Record<string, S> = {};
  for (const c of CREDENTIAL_COLLECTIONS) {
    const item = structuredClone(c.item) as { properties: Record<string, S>; required?: string[] };
    item.properties.consumer = refSchema('The consumer this belongs to: its id or username.');
    item.required = [...(item.required ?? []), 'consumer'];
    out[c.name] = {
      type: 'array',
      description: `${c.description} Top-level form: each item names its \`consumer\`.`,
      items: item,
    };
  }
  for (const [k, p] of Object.entries(UNSUPPORTED_CREDENTIALS)) out[k] = unsupported(p);
  return out;
}
