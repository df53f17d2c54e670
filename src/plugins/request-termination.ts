/**
 * request-termination: answer every request with a fixed reply instead of proxying it (Kong's
 * request-termination): maintenance windows, blocking a consumer, stubbing a route. With
 * `trigger`, only requests carrying that header or query argument are terminated.
 */
import { STATUS_CODES } from 'node:http';
import { int, optStr } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef } from './types.ts';

export interface RequestTerminationConfig {
  readonly status_code: number;
  readonly message: string | null;
  readonly body: string | null;
  readonly content_type: string | null;
  readonly trigger: string | null;
}

interface Built {
  readonly reply: LocalReply;
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
      echo: { type: 'boolean', description: 'Accepted for Kong compatibility; must be false.', const: false },
    },
  },
  check(raw, problems: ConfigProblem[]): RequestTerminationConfig {
    const message = (raw.message as string | null | undefined) ?? null;
    const body = (raw.body as string | null | undefined) ?? null;
    if (message !== null && body !== null)
      problems.push({ path: ['body'], message: 'give either "message" or "body", not both' });
    return {
      status_code: (raw.status_code as number | undefined) ?? 503,
      message,
      body,
      content_type: (raw.content_type as string | null | undefined) ?? null,
      trigger: (raw.trigger as string | null | undefined) || null,
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
    return { reply, trigger: c.trigger, triggerHeader: (c.trigger ?? '').toLowerCase() };
  },
  access(r, b) {
    if (b.trigger !== null) {
      const inHeader = r.header(b.triggerHeader) !== undefined;
      if (!inHeader && (r.query === '' || !new URLSearchParams(r.query.slice(1)).has(b.trigger))) return null;
    }
    return b.reply;
  },
};
