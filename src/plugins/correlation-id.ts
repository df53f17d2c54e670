/**
 * correlation-id (Kong's): every request carries an id in `header_name` to the target, the
 * client's own when it sent one, else a generated one; `echo_downstream` returns it to the client.
 *
 * Fulcrum already does this node-wide for its request-id header (`headers.request_id`,
 * docs/proxying.md), so when `header_name` is that header the node's id is used as is (the plugin
 * only echoes it); under another name the plugin sets its own. Generators: `uuid` and Kong's
 * default `uuid#counter` (a UUID per node followed by `#` and a counter); `tracker` (Kong's
 * nginx-variable string) is served as `uuid`, with a warning.
 */
import { randomUUID } from 'node:crypto';
import { native } from '../config/kong-fields.ts';
import type { PathPart } from '../config/load.ts';
import type { PluginSpec, Problem } from '../config/types.ts';
import { bool } from './schema-kit.ts';
import type { PluginDef } from './types.ts';

export interface CorrelationIdConfig {
  readonly header_name: string;
  readonly generator: 'uuid' | 'uuid#counter' | 'tracker';
  readonly echo_downstream: boolean;
  /** Set by normalization when `header_name` is the node's request-id header. */
  readonly node_header?: boolean;
}

interface Built {
  readonly conf: CorrelationIdConfig;
  readonly header: string;
  /** `uuid#counter`: the UUID part, made once per generation, and the counter. */
  readonly base: string;
  count: number;
}

export const correlationId: PluginDef<CorrelationIdConfig, Built> = {
  name: 'correlation-id',
  priority: 100001,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      header_name: {
        type: 'string',
        minLength: 1,
        pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        default: 'Kong-Request-ID',
        description: 'The request header that carries the id.',
      },
      generator: {
        type: 'string',
        enum: ['uuid', 'uuid#counter', 'tracker'],
        default: 'uuid#counter',
        description: 'How a missing id is made: `uuid`, or `uuid#counter` (`tracker` is served as `uuid`).',
      },
      echo_downstream: bool('Send the id back to the client in the same header.', false),
    },
  },
  kong: {
    header_name: native('X-Correlation-ID'),
    generator: native('uuid'),
    echo_downstream: native(true),
  },
  check(raw): CorrelationIdConfig {
    return {
      header_name: (raw.header_name as string | undefined) ?? 'Kong-Request-ID',
      generator: (raw.generator as CorrelationIdConfig['generator'] | undefined) ?? 'uuid#counter',
      echo_downstream: (raw.echo_downstream as boolean | undefined) ?? false,
    };
  },
  build(conf) {
    return { conf, header: conf.header_name.toLowerCase(), base: randomUUID(), count: 0 };
  },
  access(r, b) {
    const given = r.header(b.header);
    let id = given;
    if (id === undefined || id === '') {
      if (b.conf.node_header === true) return null; // the node generates it and tells nobody
      b.count++;
      id = b.conf.generator === 'uuid#counter' ? `${b.base}#${b.count}` : randomUUID();
      r.setRequestHeader(b.header, id);
    }
    // Echoed in the configured spelling (`Kong-Request-ID`), as Kong does.
    if (b.conf.echo_downstream) r.addResponseHeader(b.conf.header_name, id);
    return null;
  },
};

/**
 * Bind correlation-id instances to the node's request-id header (`headers.request_id`, lower
 * case): one id per request, the node's, when they name the same header. Warnings for what then
 * differs from Kong.
 */
export function bindCorrelationIds(
  plugins: readonly PluginSpec[],
  nodeHeader: string,
  warnings: Problem[],
): PluginSpec[] {
  return plugins.map((p) => {
    if (p.name !== 'correlation-id') return p;
    const c = p.config as unknown as CorrelationIdConfig;
    const at = (field: PathPart) => `${p.path}.config.${field}`;
    if (c.generator === 'tracker')
      warnings.push({
        path: at('generator'),
        message: 'the tracker generator is not built in; ids are UUIDs',
      });
    if (c.header_name.toLowerCase() !== nodeHeader) return p;
    if (c.echo_downstream)
      warnings.push({
        path: at('echo_downstream'),
        message: `${c.header_name} is the node's request-id header (headers.request_id): the node passes a client's id on or makes one (a UUID); only ids sent by the client are echoed`,
      });
    return { ...p, config: { ...p.config, node_header: true } };
  });
}
