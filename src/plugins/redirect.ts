/**
 * redirect: answer with a redirect instead of proxying (Kong 3.9's redirect). `location` is the
 * target URL; with `keep_incoming_path` the request's path and query replace the location's, which
 * is how an HTTP route sends every request to the same path on `https://` (HTTP to HTTPS).
 */
import { native } from '../config/kong-fields.ts';
import { bool } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef } from './types.ts';

export interface RedirectConfig {
  readonly status_code: number;
  readonly location: string;
  readonly keep_incoming_path: boolean;
}

export const redirect: PluginDef<RedirectConfig, RedirectConfig> = {
  name: 'redirect',
  priority: 779,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['location'],
    properties: {
      status_code: {
        type: 'integer',
        enum: [301, 302, 303, 307, 308],
        default: 301,
        description: 'The redirect status.',
      },
      location: { type: 'string', description: 'The absolute URL to redirect to.' },
      keep_incoming_path: bool("Replace the location's path and query with the request's.", false),
    },
  },
  kong: {
    status_code: native(302, { location: 'https://example.com' }),
    location: native('https://example.com'),
    keep_incoming_path: native(true, { location: 'https://example.com' }),
  },
  check(raw, problems: ConfigProblem[]): RedirectConfig {
    const location = String(raw.location);
    try {
      const u = new URL(location);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    } catch {
      problems.push({
        path: ['location'],
        message: `expected an absolute http(s) URL, got ${JSON.stringify(location)}`,
      });
    }
    return {
      status_code: (raw.status_code as number | undefined) ?? 301,
      location,
      keep_incoming_path: (raw.keep_incoming_path as boolean | undefined) ?? false,
    };
  },
  build(c) {
    return c;
  },
  access(r, c) {
    let location = c.location;
    if (c.keep_incoming_path) {
      const u = new URL(c.location);
      let url = r.url ?? '/';
      // The path and query as the client sent them (an absolute-form target keeps its path part).
      if (url.charCodeAt(0) !== 47 /* / */) {
        const abs = new URL(url);
        url = abs.pathname + abs.search;
      }
      const q = url.indexOf('?');
      u.pathname = q < 0 ? url : url.slice(0, q);
      u.search = q < 0 ? '' : url.slice(q);
      location = u.toString();
    }
    const reply: LocalReply = {
      status: c.status_code,
      reason: 'redirected',
      headers: { location },
      body: { message: 'Redirecting' },
    };
    return reply;
  },
};
