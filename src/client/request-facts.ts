/**
 * What the proxy's hash-key reader (src/proxy/hash-key.ts) needs of a request, taken from undici's
 * dispatch options: header names in lower case, the path without its query, the query. Built only
 * for hashing upstreams whose `hash_on` reads the request (the cost stays off everyone else's path).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { HashFacts } from '../proxy/hash-key.ts';

function headersOf(h: Dispatcher.DispatchOptions['headers']): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  const add = (name: string, value: string | string[] | undefined) => {
    if (value === undefined) return;
    const k = name.toLowerCase();
    const prev = out[k];
    if (prev === undefined) out[k] = value;
    else out[k] = [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(value) ? value : [value])];
  };
  if (h == null) return out;
  if (Array.isArray(h)) for (let i = 0; i + 1 < h.length; i += 2) add(String(h[i]), String(h[i + 1]));
  else if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function')
    for (const [k, v] of h as Iterable<[string, string | string[] | undefined]>) add(k, v);
  else for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) add(k, v);
  return out;
}

export function requestFacts(opts: Dispatcher.DispatchOptions): HashFacts {
  const path = opts.path ?? '/';
  const q = path.indexOf('?');
  return {
    clientIp: '',
    headers: lookup(headersOf(opts.headers)),
    path: q < 0 ? path : path.slice(0, q),
    query: q < 0 ? '' : path.slice(q),
    captures: null,
    consumer: null,
  };
}

/** The HashFacts view of a header object: a value by lower-case name, repeats joined. */
function lookup(h: IncomingHttpHeaders): { get(name: string): string | undefined } {
  return {
    get(name: string): string | undefined {
      const v = h[name];
      return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
    },
  };
}
