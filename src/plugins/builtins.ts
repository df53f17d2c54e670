/**
 * The built-in plugins: the one list (ARCHITECTURE.md convention 4). A name here is stable and
 * documented in docs/plugins.md; the order of this list does not matter (priorities do).
 */
import { acl } from './acl.ts';
import { basicAuth } from './basic-auth.ts';
import { compression } from './compression.ts';
import { correlationId } from './correlation-id.ts';
import { cors } from './cors.ts';
import { ipRestriction } from './ip-restriction.ts';
import { jwt } from './jwt.ts';
import { keyAuth } from './key-auth.ts';
import { prometheus } from './prometheus.ts';
import { proxyCache } from './proxy-cache.ts';
import { rateLimiting } from './rate-limiting.ts';
import { redirect } from './redirect.ts';
import { requestSizeLimiting } from './request-size-limiting.ts';
import { requestTermination } from './request-termination.ts';
import { requestTransformer } from './request-transformer.ts';
import { responseTransformer } from './response-transformer.ts';
import { trafficSplit } from './traffic-split.ts';
import type { AnyPlugin } from './types.ts';

export const BUILTINS: readonly AnyPlugin[] = [
  keyAuth,
  jwt,
  basicAuth,
  acl,
  ipRestriction,
  rateLimiting,
  cors,
  requestTermination,
  requestSizeLimiting,
  redirect,
  requestTransformer,
  responseTransformer,
  trafficSplit,
  proxyCache,
  compression,
  prometheus,
  correlationId,
];
