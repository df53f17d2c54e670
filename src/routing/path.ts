/**
 * Request-path normalization (before matching) and the join of a service path with the request
 * path, or the part of it left after stripping (Kong's `path_handling` v0 and v1).
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

/**
 * The path sent upstream: the service path joined with the request path as Kong's `path_handling`
 * does (kong/router/utils.lua `get_upstream_uri_v0` and the v1 branch of the router; the table in
 * Kong's admin API docs, reproduced in docs/routing.md, is the test).
 *
 * `path` is the normalized request path; `strippedLength` is how much of it the route's path
 * matched when the route strips it (`strip_path: true`), else 0. When nothing is stripped, Kong
 * forwards the request path without its leading slash as the "postfix"; when a prefix is stripped,
 * the remainder is the postfix.
 */
export function joinPath(
  servicePath: string,
  path: string,
  strippedLength: number,
  handling: 'v0' | 'v1',
): string {
  const base = servicePath === '' ? '/' : servicePath;
  if (strippedLength <= 0) {
    // Nothing stripped: the whole request path follows the service path.
    // The request path itself when the base is the root: the same string, not a new one (a
    // concatenation of 13 characters or more is a rope that costs a flatten when it is written).
    if (base === '/') return path;
    if (handling === 'v1') return base + path.slice(1);
    if (base.endsWith('/')) return base + path.slice(1);
    return path === '/' ? base : base + path;
  }
  const postfix = sanitizePostfix(path.slice(strippedLength));
  if (handling === 'v1') {
    if (base.endsWith('/') && postfix.startsWith('/')) return base.slice(0, -1) + postfix;
    return base + postfix;
  }
  const trailing = path.length > 1 && path.endsWith('/');
  if (base.endsWith('/')) {
    if (postfix === '') return base === '/' || trailing ? base : base.slice(0, -1);
    if (postfix.startsWith('/')) return base.slice(0, -1) + postfix;
    return base + postfix;
  }
  if (postfix === '') return trailing ? `${base}/` : base;
  if (postfix.startsWith('/')) return base + postfix;
  return `${base}/${postfix}`;
}

/**
 * A stripped remainder that starts with a dot segment (`/api` matching `/api../x` leaves `../x`)
 * would climb above the service path once joined; Kong's `sanitize_uri_postfix` drops it, and so
 * does this.
 */
function sanitizePostfix(p: string): string {
  if (p === '.' || p === '..') return '';
  if (p.startsWith('./')) return p.slice(2);
  if (p.startsWith('../')) return p.slice(3);
  return p;
}

export interface RequestTarget {
  /** The normalized path (no query), as routes match it. */
  readonly path: string;
  /** `?…` as received, or ''. */
  readonly query: string;
  /** For an absolute-form target, its authority (which replaces Host); else null. */
  readonly authority: string | null;
  /**
   * `path` + `query` as one flat string when the path needed no normalization (the received
   * origin-form target, or an absolute-form target's path and query); else null.
   */
  readonly target: string | null;
}

/**
 * Split a request target into its normalized path and its query. Origin-form (`/p?q`) and
 * absolute-form (`http://host/p?q`, RFC 9112 §3.2.2; its authority replaces Host for routing) are
 * accepted; anything else, or a path that normalizes to nothing, is null (400).
 */
export function parseRequestTarget(url: string): RequestTarget | null {
  let target = url;
  let authority: string | null = null;
  if (url.charCodeAt(0) !== 47 /* / */) {
    if (!/^https?:\/\//i.test(url)) return null;
    try {
      const u = new URL(url);
      authority = u.host;
      target = u.pathname + u.search;
    } catch {
      return null;
    }
  }
  const q = target.indexOf('?');
  const raw = q < 0 ? target : target.slice(0, q);
  const path = normalizePath(raw);
  if (path === null) return null;
  return { path, query: q < 0 ? '' : target.slice(q), authority, target: path === raw ? target : null };
}
