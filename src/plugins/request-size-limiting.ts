/**
 * request-size-limiting: refuse request bodies over a size (Kong's request-size-limiting). A
 * declared Content-Length over the limit is refused at once with Kong's message; a chunked body is
 * counted as it streams (the exchange's body meter), and the client gets 413
 * FULCRUM_ERR_PAYLOAD_TOO_LARGE when it passes the limit (if no response has started by then).
 */
import { native } from '../config/kong-fields.ts';
import { bool, int } from './schema-kit.ts';
import type { LocalReply, PluginDef } from './types.ts';

const UNITS = { bytes: 1, kilobytes: 1024, megabytes: 1024 * 1024 } as const;

export interface RequestSizeLimitingConfig {
  readonly allowed_payload_size: number;
  readonly size_unit: keyof typeof UNITS;
  readonly require_content_length: boolean;
}

interface Built {
  readonly bytes: number;
  readonly requireLength: boolean;
}

const TOO_LARGE: LocalReply = {
  status: 413,
  reason: 'too-large',
  body: { message: 'Request size limit exceeded' },
};
const LENGTH_REQUIRED: LocalReply = {
  status: 411,
  reason: 'length-required',
  body: { message: 'A valid Content-Length header is required' },
};

export const requestSizeLimiting: PluginDef<RequestSizeLimitingConfig, Built> = {
  name: 'request-size-limiting',
  priority: 951,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allowed_payload_size: int('The largest body allowed, in `size_unit`.', 1, 1_000_000_000, {
        default: 128,
      }),
      size_unit: {
        type: 'string',
        enum: Object.keys(UNITS),
        default: 'megabytes',
        description: 'The unit of `allowed_payload_size`.',
      },
      require_content_length: bool('Refuse requests with a body but no Content-Length (411).', false),
    },
  },
  kong: {
    allowed_payload_size: native(10),
    size_unit: native('kilobytes'),
    require_content_length: native(true),
  },
  check(raw): RequestSizeLimitingConfig {
    return {
      allowed_payload_size: (raw.allowed_payload_size as number | undefined) ?? 128,
      size_unit: (raw.size_unit as keyof typeof UNITS | undefined) ?? 'megabytes',
      require_content_length: (raw.require_content_length as boolean | undefined) ?? false,
    };
  },
  build(c) {
    return { bytes: c.allowed_payload_size * UNITS[c.size_unit], requireLength: c.require_content_length };
  },
  access(r, b) {
    const cl = r.header('content-length');
    if (cl !== undefined) {
      if (Number(cl) > b.bytes) return TOO_LARGE;
    } else if (r.header('transfer-encoding') !== undefined) {
      if (b.requireLength) return LENGTH_REQUIRED;
    }
    r.bodyLimit = b.bytes;
    return null;
  },
};
