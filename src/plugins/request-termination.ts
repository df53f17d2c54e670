/**
 * request-termination: answer every request with a fixed reply instead of proxying it (Kong's
 * request-termination): maintenance windows, blocking a consumer, stubbing a route. With
 * `trigger`, only requests carrying that header or query argument are terminated. With `echo`,
 * the reply also describes the request (Kong's debugging aid): method, URL, headers, route and
 * service.
 */
import { STATUS_CODES } from 'node:http';
import { native } from '../config/kong-fields.ts';
import { int, optStr } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef } from './types.ts';

export interface RequestTerminationConfig {
  readonly status_code: number;
  readonly message: string | null;
  readonly body: string | null;
  readonly content_type: string | null;
  readonly trigger: string | null;
  readonly echo: boolean;
}

interface Built {
  readonly reply: LocalReply;
  readonly echo: boolean;
  readonly trigger: string | null;
  readonly triggerHeader: string;
}

export const requestTermination: PluginDef<RequestTerminationConfig, Built> = {
  name: 'request-termination',
  priority: 2,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status_code: int('The status of the reply.', 100, 599, { default: 503 }),
      message: optStr('The reply is `{"message": <message>}` (default: the status reason phrase).'),
      body: optStr('A raw body instead of `message`, sent with `content_type`.'),
      content_type: optStr('The Content-Type of `body` (default `application/json; charset=utf-8`).'),
      trigger: optStr('Terminate only requests carrying this header or query argument.'),
      echo: {
        type: 'boolean',
        default: false,
        description:
          'Reply with a JSON description of the request instead (`message`, `request`: method, url, path, query, headers; `matched_route`, `matched_service`), as Kong does for debugging. Not with `body`.',
      },
    },
  },
  kong: {
    status_code: native(404),
    message: native('gone'),
    content_type: native('text/plain', { body: 'gone', message: null }),
    body: native('gone', { content_type: 'text/plain' }),
    echo: native(true),
    trigger: native('x-stub'),
  },
  check(raw, problems: ConfigProblem[]): RequestTerminationConfig {
    const message = (raw.message as string | null | undefined) ?? null;
    const body = (raw.body as string | null | undefined) ?? null;
    if (message !== null && body !== null)
      problems.push({ path: ['body'], message: 'give either "message" or "body", not both' });
    const echo = (raw.echo as boolean | undefined) ?? false;
    if (echo && body !== null)
      problems.push({ path: ['echo'], message: '"echo" replies in JSON: remove "body"' });
    return {
      status_code: (raw.status_code as number | undefined) ?? 503,
      message,
      body,
      content_type: (raw.content_type as string | null | undefined) ?? null,
      trigger: (raw.trigger as string | null | undefined) || null,
      echo,
    };
  },
  build(c) {
    const reply: LocalReply =
      c.body !== null
        ? {
            status: c.status_code,
            reason: 'terminated',
            headers: { 'content-type': c.content_type ?? 'application/json; charset=utf-8' },
            body: c.body,
          }
        : {
            status: c.status_code,
            reason: 'terminated',
            body: { message: c.message ?? STATUS_CODES[c.status_code] ?? 'Terminated' },
          };
    return { reply, echo: c.echo, trigger: c.trigger, triggerHeader: (c.trigger ?? '').toLowerCase() };
  },
  access(r, b) {
    if (b.trigger !== null) {
      const inHeader = r.header(b.triggerHeader) !== undefined;
      if (!inHeader && (r.query === '' || !new URLSearchParams(r.query.slice(1)).has(b.trigger))) return null;
    }
    if (!b.echo) return b.reply;
    const body = b.reply.body as Readonly<Record<string, unknown>>;
    return {
      ...b.reply,
      body: {
        ...body,
        request: {
          method: r.method,
          url: r.url,
          path: r.path,
          query: Object.fromEntries(new URLSearchParams(r.query.slice(1))),
          headers: r.headers,
          client_ip: r.realIp(),
        },
        matched_route: { id: r.route.id, name: r.route.name || null, paths: r.route.paths },
        matched_service: { id: r.service.id, name: r.service.name, host: r.service.host },
      },
    };
  },
};
