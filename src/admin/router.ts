/**
 * The admin API's router: a list of `METHOD /pattern/{param}` entries matched segment by segment.
 * Hand-written rather than a library because the admin listener is off the hot path, has a few
 * dozen routes, and needs two things routers rarely give together: the full list of routes (the
 * OpenAPI document is generated from it and a test checks they agree) and a 405 with `Allow` when
 * the path exists under another method.
 */
import type { IncomingMessage } from 'node:http';
import type { Caller } from '../runtime/config-control.ts';
import type { MediaKind } from './request-guard.ts';

export interface Ctx {
  readonly req: IncomingMessage;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The request path, decoded segment by segment. */
  readonly path: string;
  readonly caller: Caller;
}

export interface Reply {
  readonly status: number;
  /** JSON body; omitted for 204. */
  readonly body?: unknown;
  /** A text body with its content type, instead of JSON. */
  readonly text?: { readonly type: string; readonly data: string };
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (ctx: Ctx) => Promise<Reply>;

export interface RouteEntry {
  readonly method: string;
  readonly pattern: string;
  /** One line for the OpenAPI document. */
  readonly summary: string;
  /** Tag for grouping in the OpenAPI document (`services`, `config`, ...). */
  readonly tag: string;
  /** The JSON Schema of the request body, for the OpenAPI document; absent when there is none. */
  readonly body?: Record<string, unknown>;
  /** The body formats accepted (415 otherwise); absent: JSON and forms (DEFAULT_MEDIA). */
  readonly accepts?: readonly MediaKind[];
  readonly handler: Handler;
  readonly segments: readonly string[];
}

export type Match =
  | { kind: 'found'; route: RouteEntry; params: Record<string, string> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

export class Router {
  readonly routes: RouteEntry[] = [];

  add(
    method: string,
    pattern: string,
    meta: { summary: string; tag: string; body?: Record<string, unknown>; accepts?: readonly MediaKind[] },
    handler: Handler,
  ): void {
    this.routes.push({ method, pattern, ...meta, handler, segments: pattern.split('/').slice(1) });
  }

  match(method: string, segments: readonly string[]): Match {
    const allow: string[] = [];
    for (const r of this.routes) {
      if (r.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const want = r.segments[i]!;
        const got = segments[i]!;
        if (want.startsWith('{')) {
          if (got === '') ok = false;
          else params[want.slice(1, -1)] = got;
        } else ok = want === got;
      }
      if (!ok) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET'))
        return { kind: 'found', route: r, params };
      if (!allow.includes(r.method)) allow.push(r.method);
    }
    return allow.length > 0 ? { kind: 'method', allow } : { kind: 'none' };
  }
}
