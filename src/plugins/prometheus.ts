/**
 * prometheus (Kong's): what it turns on is always on in Fulcrum. The admin listener serves the
 * node's metrics at `GET /metrics` (docs/metrics.md), where Kong's plugin serves them too (the
 * admin and status APIs): requests by route, service and status class, latencies, bytes, target
 * health. So the plugin loads and does nothing per request; its switches are accepted, and
 * `per_consumer` and `ai_metrics`, which Fulcrum has no metrics for, are reported when set.
 */
import { ignored, native } from '../config/kong-fields.ts';
import { bool } from './schema-kit.ts';
import type { PluginDef } from './types.ts';

const ALWAYS = 'Always on: the metrics are served at the admin listener, GET /metrics (docs/metrics.md).';

export const prometheus: PluginDef<Record<string, never>, null> = {
  name: 'prometheus',
  priority: 13,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status_code_metrics: bool(ALWAYS, false),
      latency_metrics: bool(ALWAYS, false),
      bandwidth_metrics: bool(ALWAYS, false),
      upstream_health_metrics: bool(ALWAYS, false),
    },
  },
  kong: {
    per_consumer: ignored('metrics are labelled by route and service, not by consumer', false, true, {
      type: 'boolean',
    }),
    status_code_metrics: native(true),
    latency_metrics: native(true),
    bandwidth_metrics: native(true),
    upstream_health_metrics: native(true),
    ai_metrics: ignored('there are no AI plugins', false, true, { type: 'boolean' }),
  },
  check() {
    return {};
  },
  build() {
    return null;
  },
};
