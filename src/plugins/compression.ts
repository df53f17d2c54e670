/**
 * compression: compress response bodies with brotli or gzip (zstd where Node has it, 22.15+) by
 * the client's Accept-Encoding (RFC 9110 §12.5.3, q-values honoured), as nginx's gzip/brotli
 * modules and Traefik's compress middleware do. Skipped for HEAD, 204/304, bodies already encoded,
 * `Cache-Control: no-transform`, types not listed, and bodies whose Content-Length is under
 * `min_length`. The body streams through the encoder with backpressure; it is never buffered whole.
 */
import type { Duplex, Transform } from 'node:stream';
import * as stream from 'node:stream';
import * as zlib from 'node:zlib';
import { int, strList } from './schema-kit.ts';
import type { ConfigProblem, PluginDef, PluginRequest, ResponseHead } from './types.ts';

type Algorithm = 'br' | 'gzip' | 'zstd';

export interface CompressionConfig {
  readonly algorithms: readonly Algorithm[];
  readonly min_length: number;
  readonly content_types: readonly string[];
  readonly gzip_level: number;
  readonly brotli_quality: number;
}

interface Built {
  readonly conf: CompressionConfig;
  /** The configured algorithms this Node version can produce, in preference order. */
  readonly available: readonly Algorithm[];
}

const DEFAULT_TYPES = [
  'text/html',
  'text/plain',
  'text/css',
  'text/javascript',
  'text/xml',
  'application/json',
  'application/javascript',
  'application/xml',
  'application/problem+json',
  'image/svg+xml',
];

/** stream.compose (Node 16.9+; missing from the @types/node in use): one Duplex writing into the first. */
const compose = (stream as unknown as { compose(a: Duplex, b: Duplex): Duplex }).compose;
// biome-ignore lint/suspicious/noExplicitAny: zstd exists on newer Node only
const zstd = (zlib as any).createZstdCompress as ((o?: object) => Transform) | undefined;

function headerOf(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) return flat[i + 1];
  return undefined;
}

function removeHeader(flat: string[], name: string): void {
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i]!.toLowerCase() === name) flat.splice(i, 2);
}

/** The first configured algorithm the client accepts (q > 0, `*` counts), or null. */
export function negotiate(accept: string | undefined, available: readonly Algorithm[]): Algorithm | null {
  if (accept === undefined || accept === '') return null;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k === 'q') weight = Number(v);
    }
    q.set(name, Number.isFinite(weight) ? weight : 0);
  }
  for (const a of available) {
    const w = q.get(a) ?? q.get('*');
    if (w !== undefined && w > 0) return a;
  }
  return null;
}

function encoder(a: Algorithm, c: CompressionConfig): Transform {
  if (a === 'gzip') return zlib.createGzip({ level: c.gzip_level });
  if (a === 'br')
    return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: c.brotli_quality } });
  return zstd!();
}

function typeListed(types: readonly string[], ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const media = ct.split(';')[0]!.trim().toLowerCase();
  for (const t of types)
    if (t === media || (t.endsWith('/*') && media.startsWith(t.slice(0, -1)))) return true;
  return false;
}

function eligible(r: PluginRequest, b: Built, head: ResponseHead): boolean {
  if (head.local || r.method === 'HEAD' || head.status === 204 || head.status === 304) return false;
  const h = head.headers;
  if (headerOf(h, 'content-encoding') !== undefined) return false;
  if (/\bno-transform\b/i.test(headerOf(h, 'cache-control') ?? '')) return false;
  if (!typeListed(b.conf.content_types, headerOf(h, 'content-type'))) return false;
  const cl = headerOf(h, 'content-length');
  return cl === undefined || Number(cl) >= b.conf.min_length;
}

export const compression: PluginDef<CompressionConfig, Built> = {
  name: 'compression',
  priority: 50,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      algorithms: strList(
        'Encodings offered, in preference order: `br`, `gzip`, `zstd` (zstd only where Node has it).',
        { default: ['br', 'gzip'], minItems: 1 },
        { enum: ['br', 'gzip', 'zstd'] },
      ),
      min_length: int('Bodies with a smaller Content-Length are sent as they are.', 0, 1073741824, {
        default: 1024,
      }),
      content_types: strList('Media types compressed: exact or `type/*`.', { default: DEFAULT_TYPES }),
      gzip_level: int('gzip level, 1 (fast) to 9 (small).', 1, 9, { default: 6 }),
      brotli_quality: int('brotli quality, 0 (fast) to 11 (small); 4 suits on-the-fly compression.', 0, 11, {
        default: 4,
      }),
    },
  },
  check(raw, _problems: ConfigProblem[]): CompressionConfig {
    return {
      algorithms: (raw.algorithms as Algorithm[] | undefined) ?? ['br', 'gzip'],
      min_length: (raw.min_length as number | undefined) ?? 1024,
      content_types: ((raw.content_types as string[] | undefined) ?? DEFAULT_TYPES).map((t) =>
        t.toLowerCase(),
      ),
      gzip_level: (raw.gzip_level as number | undefined) ?? 6,
      brotli_quality: (raw.brotli_quality as number | undefined) ?? 4,
    };
  },
  build(conf) {
    return { conf, available: conf.algorithms.filter((a) => a !== 'zstd' || zstd !== undefined) };
  },
  headerFilter(r, b, head) {
    if (!eligible(r, b, head)) return;
    const h = head.headers;
    const vary = headerOf(h, 'vary');
    if (vary === undefined) h.push('vary', 'Accept-Encoding');
    else if (!/accept-encoding|\*/i.test(vary)) {
      removeHeader(h, 'vary');
      h.push('vary', `${vary}, Accept-Encoding`);
    }
    const ae = r.header('accept-encoding');
    const a = negotiate(typeof ae === 'string' ? ae : undefined, b.available);
    if (a === null) return;
    removeHeader(h, 'content-length');
    h.push('content-encoding', a);
    // A strong validator names exact bytes; the encoded body is other bytes (nginx does the same).
    const etag = headerOf(h, 'etag');
    if (etag !== undefined && !etag.startsWith('W/')) {
      removeHeader(h, 'etag');
      h.push('etag', `W/${etag}`);
    }
    // After another plugin's encoder (response-transformer's JSON rewrite): compress its output.
    const prev = r.encoder;
    r.encoder = prev === null ? encoder(a, b.conf) : compose(prev, encoder(a, b.conf));
  },
};
