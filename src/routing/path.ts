/**
 * Request-path normalization (before matching) and the join of a service path with the part of
 * the request path left after stripping (Kong's `path_handling` v0 and v1).
 */

const UNRESERVED = /%(2[DEde]|2[Ee]|3\d|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa]|7[Ee])/g;

/**
 * RFC 3986 normalization: decode percent-encoded unreserved characters (ALPHA / DIGIT / - . _ ~),
 * upper-case the remaining escapes, and remove dot segments. Returns null for a path that climbs
 * above the root or contains an encoded slash-dot trick that cannot be normalized safely.
 * The common case (no `%`, no `/.`) costs two indexOf calls and returns the input.
 */
export function normalizePath(p: string): string | null {
  if (p.indexOf('%') < 0 && p.indexOf('/.') < 0 && p.indexOf('//') < 0) return p;
  let s = p;
  if (s.indexOf('%') >= 0) {
    s = s.replace(UNRESERVED, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    s = s.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => `%${hex.toUpperCase()}`);
  }
  // Collapse repeated slashes, as nginx's merge_slashes does, so `//admin` routes like `/admin`.
  s = s.replace(/\/{2,}/g, '/');
  if (s.indexOf('/.') < 0) return s;
  const out: string[] = [];
  const segs = s.split('/');
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    if (seg === '.') {
      if (i === segs.length - 1) out.push('');
    } else if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
      if (i === segs.length - 1) out.push('');
    } else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Join the service path and the remaining request path as Kong's path_handling does. */
export function joinPath(servicePath: string, rest: string, handling: 'v0' | 'v1'): string {
  if (handling === 'v0') {
    if (rest === '' || rest === '/')
      return rest === '/' && !servicePath.endsWith('/') ? `${servicePath}/` : servicePath;
    const a = servicePath.endsWith('/');
    const b = rest.startsWith('/');
    if (a && b) return servicePath + rest.slice(1);
    if (!a && !b) return `${servicePath}/${rest}`;
    return servicePath + rest;
  }
  if (servicePath.endsWith('/') && rest.startsWith('/')) return servicePath + rest.slice(1);
  const joined = servicePath + rest;
  return joined === '' ? '/' : joined;
}
