/** The one place that knows which listener class serves which listener `protocol`. */
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { Http1Listener } from './http1.ts';
import { Http2Listener } from './http2.ts';

export type ProxyListener = Http1Listener | Http2Listener;

export function createListener(spec: ListenerSpec, node: NodeSpec, runtime: Runtime): ProxyListener {
  switch (spec.protocol) {
    case 'h2c':
      return new Http2Listener(spec, node, runtime);
    default:
      return new Http1Listener(spec, node, runtime);
  }
}
