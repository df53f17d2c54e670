/**
 * The JSON Schema of the TLS objects: Kong's `certificates`, `snis` and `ca_certificates`, a
 * listener's `tls` block, and the fields a service reads for upstream TLS. Kept out of schema.ts
 * so that file only gains the lines that place these blocks (docs/tls.md explains every field).
 */

import { KONG_CA_CERTIFICATE, KONG_CERTIFICATE, KONG_SNI } from './kong-entities.ts';
import { kongSchema, TIMESTAMPS } from './kong-fields.ts';

type S = Record<string, unknown>;

const str = (description: string, extra: S = {}): S => ({ type: 'string', description, ...extra });
const tags: S = {
  type: 'array',
  description: 'Free-form labels, for your own bookkeeping and to filter objects in the admin API.',
  items: { type: 'string' },
};
const id = str(
  'A UUID. When omitted, a stable one is derived from the content, so the same file always gives the same ids.',
);
const pem = (what: string): S =>
  str(`${what}, PEM-encoded (\`-----BEGIN ...\`), inline as Kong stores it.`, { minLength: 1 });

/** A server name: `example.com`, `*.example.com` (one label) or `example.*`. */
const sniName = str(
  'A server name the certificate answers for: exact (`api.example.com`), a leading wildcard (`*.example.com`, one label) or a trailing one (`example.*`). Compared case-insensitively; an exact name beats a wildcard.',
  { minLength: 1, maxLength: 253 },
);

/** A nested sni: a bare name (Kong's admin shorthand) or an object. */
const nestedSniSchema: S = {
  description: 'A server name, as a string or as `{name, id, tags}`.',
  anyOf: [
    sniName,
    {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        id,
        name: sniName,
        tags,
        created_at: TIMESTAMPS.created_at!.schema!,
        updated_at: TIMESTAMPS.updated_at!.schema!,
      },
    },
  ],
};

export const certificateSchema: S = kongSchema(
  {
    type: 'object',
    description:
      'A certificate and its private key, served by https listeners to clients whose SNI matches one of its `snis` (Kong certificate).',
    additionalProperties: false,
    required: ['cert', 'key'],
    properties: {
      id,
      cert: pem('The certificate, optionally followed by its intermediate chain'),
      key: pem('The private key of `cert`'),
      cert_alt: pem(
        'A second certificate with a different key type (say ECDSA beside RSA); the handshake picks the one the client supports',
      ),
      key_alt: pem('The private key of `cert_alt`'),
      snis: {
        type: 'array',
        description: 'Server names served with this certificate (nested form of `snis`).',
        items: nestedSniSchema,
      },
      tags,
    },
  },
  KONG_CERTIFICATE,
);

export const sniSchema: S = kongSchema(
  {
    type: 'object',
    description: 'A server name bound to a certificate (Kong sni).',
    additionalProperties: false,
    required: ['name'],
    properties: {
      id,
      name: sniName,
      certificate: {
        description: 'The certificate: its id, or `{"id": ...}`. Required at top level.',
        anyOf: [
          { type: 'string', minLength: 1 },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id'],
            properties: { id: { type: 'string' } },
          },
        ],
      },
      tags,
    },
  },
  KONG_SNI,
);

export const caCertificateSchema: S = kongSchema(
  {
    type: 'object',
    description:
      'A trusted CA certificate, referenced by services (`ca_certificates`) to verify their targets (Kong ca_certificate).',
    additionalProperties: false,
    required: ['cert'],
    properties: {
      id,
      cert: pem('The CA certificate'),
      cert_digest: str('Accepted for Kong compatibility (the sha256 of the certificate; recomputed).'),
      tags,
    },
  },
  KONG_CA_CERTIFICATE,
);

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'];

export const listenerTlsSchema: S = {
  type: 'object',
  description:
    'TLS termination settings of an `https` listener (docs/tls.md). Certificates for named hosts come from the top-level `certificates`, chosen by SNI.',
  additionalProperties: false,
  properties: {
    certificate: str(
      'Path to the default certificate (PEM, leaf first then its chain), served when the client sends no SNI or one no certificate matches; relative to the configuration file. Needs `key`.',
      { minLength: 1 },
    ),
    key: str('Path to the private key of `certificate` (PEM, unencrypted).', { minLength: 1 }),
    default_certificate: str(
      'The id of a `certificates` entry to serve as the default instead of `certificate`/`key`. With neither, the first entry of `certificates` is the default (as HAProxy takes the first `crt`).',
      { minLength: 1 },
    ),
    min_version: {
      type: 'string',
      enum: TLS_VERSIONS,
      default: 'TLSv1.2',
      description: 'The oldest TLS version accepted.',
    },
    max_version: {
      type: 'string',
      enum: TLS_VERSIONS,
      default: 'TLSv1.3',
      description: 'The newest TLS version offered.',
    },
    ciphers: str(
      "OpenSSL cipher list for TLS 1.2 and TLS 1.3 suites (`ECDHE+AESGCM:TLS_AES_128_GCM_SHA256`). Unset: Node's default list (only forward-secret AEAD and CBC suites; no RC4, DES, export or NULL).",
      { minLength: 1 },
    ),
    session_tickets: {
      type: 'boolean',
      default: true,
      description:
        'Resume sessions with RFC 5077 tickets (keys random per listener, kept across reloads, lost on restart). Off: only the in-memory session-id cache resumes.',
    },
    session_timeout: {
      type: 'integer',
      minimum: 1,
      maximum: 86400,
      default: 300,
      description: 'Seconds a session (ticket or cached id) may be resumed.',
    },
    client_ca: str(
      'Path to the CA certificates (PEM bundle) that client certificates must chain to; required when `verify_client` is not `off`.',
      { minLength: 1 },
    ),
    verify_client: {
      type: 'string',
      enum: ['off', 'optional', 'required'],
      default: 'off',
      description:
        '`off`: no client certificate asked. `optional`: asked; requests without one, or with one that fails verification, still pass and carry the verdict. `required`: a connection without a valid client certificate fails its handshake.',
    },
    forward_client_cert: {
      type: 'boolean',
      default: false,
      description:
        'Send the client certificate verdict and identity to targets as `X-Client-Cert-*` request headers (any such header from the client is removed first).',
    },
  },
};

/** Service fields for upstream TLS (Kong's names, plus `tls_server_name`). */
export const serviceTlsFields: Record<string, S> = {
  ca_certificates: {
    type: 'array',
    description:
      'Ids of `ca_certificates` the target certificate must chain to (https services with `tls_verify`). Unset: the system trust store.',
    items: { type: 'string', minLength: 1 },
  },
  client_certificate: {
    description:
      'The `certificates` entry (id or `{"id": ...}`) presented to targets that ask for a client certificate.',
    anyOf: [
      { type: 'string', minLength: 1 },
      {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: { id: { type: 'string' } },
      },
      { type: 'null' },
    ],
  },
  tls_verify_depth: {
    type: ['integer', 'null'],
    minimum: 0,
    maximum: 64,
    description:
      'Accepted for Kong compatibility; chains are verified to any depth (OpenSSL default limit of 100).',
  },
  tls_server_name: str(
    'Fulcrum extension: the SNI sent to every target of an https service. Unset: the Host header sent to the target (the upstream `host_header`, the service `host`, or the client Host with `preserve_host`), as Kong does; none when that is an IP address.',
    { minLength: 1 },
  ),
};
