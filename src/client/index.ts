/**
 * `fulcrum/client`: Fulcrum's balancers, health checks, retry policy and budget, circuit breakers
 * and metrics inside an application, as an undici Dispatcher (docs/client.md).
 */
export type { TargetConfig, UpstreamConfig } from '../config/file-types.ts';
export { ConfigError, type ConfigIssue } from '../config/load.ts';
export { FulcrumError } from '../core/errors.ts';
export {
  CLIENT_DISCOVERY_WAIT_MS,
  type TargetSource,
  UpstreamDispatcher,
  type UpstreamDispatcherOptions,
  upstreamDispatcher,
} from './dispatcher.ts';
export type { ClientDnsConfig, ClientServiceConfig } from './options.ts';
export { DEFAULT_REGISTER_TTL_S, type RegisterOptions, type Registration, register } from './register.ts';
