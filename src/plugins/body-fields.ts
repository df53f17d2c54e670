/**
 * Top-level fields of a buffered request body, for key-auth's `key_in_body` and the transformers'
 * body rules: `application/json` (an object), `application/x-www-form-urlencoded` and
 * `multipart/form-data` (fields without a filename), the three kinds Kong's kong.request.get_body
 * reads. Anything else, or a body that does not parse, has no fields.
 */
import { Buffer } from 'node:buffer';
import { mediaType } from './request-body.ts';

export type ParsedBody =
  | { readonly kind: 'json'; readonly value: Record<string, unknown> }
  | { readonly kind: 'form'; readonly params: URLSearchParams }
  | { readonly kind: 'multipart'; readonly fields: ReadonlyMap<string, string[]> };

/** The most parts a multipart body is scanned for (a key is a small field near the start). */
const MAX_PARTS = 256;

export function parseBody(contentType: string | string[] | undefined, body: Buffer): ParsedBody | null {
  const type = mediaType(contentType);
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      const v: unknown = JSON.parse(body.toString('utf8'));
      return v !== null && typeof v === 'object' && !Array.isArray(v)
        ? { kind: 'json', value: v as Record<string, unknown> }
        : null;
    } catch {
      return null;
    }
  }
  if (type === 'application/x-www-form-urlencoded')
    return { kind: 'form', params: new URLSearchParams(body.toString('utf8')) };
  if (type === 'multipart/form-data') {
    const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(String(contentType));
    const boundary = m === null ? '' : (m[1] ?? m[2] ?? '');
    if (boundary === '' || boundary.length > 70) return null;
    return { kind: 'multipart', fields: multipartFields(body, boundary) };
  }
  return null;
}

/** The values of the named field (strings; a JSON number or boolean is its text), or []. */
export function fieldValues(p: ParsedBody, name: string): string[] {
  if (p.kind === 'form') return p.params.getAll(name);
  if (p.kind === 'multipart') return p.fields.get(name) ?? [];
  if (!Object.hasOwn(p.value, name)) return [];
  const v = p.value[name];
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  return [];
}

/** RFC 7578: parts separated by `--boundary`, each a header block, an empty line, and the value. */
function multipartFields(body: Buffer, boundary: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const delim = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delim);
  for (let n = 0; at >= 0 && n < MAX_PARTS; n++) {
    const start = at + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // the closing `--boundary--`
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const part = body.subarray(start, next);
    const sep = part.indexOf('\r\n\r\n');
    if (sep >= 0) {
      const head = part.subarray(0, sep).toString('latin1');
      const disp = /content-disposition:\s*form-data\s*;([^\r\n]*)/i.exec(head);
      const name = disp === null ? null : /\bname="([^"]*)"/i.exec(disp[1]!);
      if (name !== null && !/\bfilename\*?=/i.test(disp![1]!)) {
        // The value ends before the CRLF that precedes the next delimiter.
        let end = part.length;
        if (part[end - 2] === 0x0d && part[end - 1] === 0x0a) end -= 2;
        const v = part.subarray(sep + 4, end).toString('utf8');
        const list = out.get(name[1]!);
        if (list === undefined) out.set(name[1]!, [v]);
        else list.push(v);
      }
    }
    at = next;
  }
  return out;
}
