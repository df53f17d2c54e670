/**
 * The plugin contract (ARCHITECTURE.md conventions 4 and 7). A plugin is one file exporting a
 * PluginDef: its Kong name, its fixed priority, the JSON Schema of its `config`, a semantic check
 * that turns a structurally valid config into a normalized plain object, a build step that
 * compiles that object into what the hooks read (once per generation), and phase hooks.
 *
 * Hooks are synchronous and return `null` to continue or a LocalReply to answer the request
 * without proxying it (Envoy's StopIteration + sendLocalReply; Kong's kong.response.exit). A
 * rewrite or access hook may also return a Wait (the body, a fetch): it is called again after.
 */
import type { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import type { KongTable } from '../config/kong-fields.ts';
import type { PathPart } from '../config/load.ts';
import type { ConsumerSpec, RouteSpec, ServiceSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { ConsumerIndex, Credential } from './consumers.ts';
import type { SharedCounters } from './rate-limit-policy.ts';

/**
 * The phases, in the order they run. `body_filter` hooks observe the response body as it is
 * relayed (proxy-cache keeps a copy); they cannot change the bytes yet.
 */
export const PHASES = ['rewrite', 'access', 'header_filter', 'body_filter', 'log'] as const;
export type Phase = (typeof PHASES)[number];

/** An answer written by the proxy itself; `body` objects are sent as JSON (Kong: `{"message": ...}`). */
export interface LocalReply {
  readonly status: number;
  /**
   * Why the plugin answered, for `fulcrum_plugin_outcomes_total` and the access log's `reason`
   * (`no-credentials`, `invalid-credentials`, `rate-limited`, ...); named by the status when absent.
   */
  readonly reason?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer | Readonly<Record<string, unknown>>;
}

/**
 * A hook's answer that it must wait (for the request body, or a key fetch) before it can decide.
 * The chain calls the same hook again once `wait` settles (it never rejects); the exchange resumes
 * start() from there. Hooks that never wait keep the synchronous path (ARCHITECTURE.md rule 8).
 */
export interface Wait {
  readonly wait: Promise<unknown>;
}

/** What rewrite and access hooks return: continue (`null`), answer (a LocalReply), or wait. */
export type AccessResult = LocalReply | Wait | null;

export function isWait(x: LocalReply | Wait): x is Wait {
  return (x as Wait).wait !== undefined;
}

/** What a hook sees of one request. Owned by the exchange; valid until the log phase ends. */
export interface PluginRequest {
  readonly method: string;
  /** The request target as the client sent it (path and query, or absolute form). */
  readonly url: string;
  /**
   * The request's fields as Node's IncomingMessage.headers (lower-case names, repeats joined,
   * set-cookie an array), with the edits of earlier hooks; made on first use only.
   */
  readonly headers: IncomingHttpHeaders;
  /** One field by lower-case name (repeats joined), without making the object. */
  header(name: string): string | undefined;
  /** Whether the request carries a body. */
  readonly hasBody: boolean;
  /** The peer address of the client socket (IPv4-mapped addresses unmapped). */
  readonly socketIp: string;
  /**
   * The real client address: the socket peer, or, when the peer is a trusted proxy (`trusted_ips`),
   * the right-most address of X-Forwarded-For that is not itself trusted (nginx real_ip_recursive).
   */
  realIp(): string;
  /** The normalized request path, without the query. */
  readonly path: string;
  /** The query string sent to the target, with its leading `?`, or ''; hooks may replace it. */
  query: string;
  readonly route: RouteSpec;
  readonly service: ServiceSpec;
  /** The authenticated consumer (or the anonymous one), set by an authentication plugin. */
  consumer: ConsumerSpec | null;
  /** The credential that authenticated the request; null for anonymous or unauthenticated. */
  credential: Credential | null;
  readonly consumers: ConsumerIndex;
  /**
   * traffic-split: the name of the service to send this request to instead of the route's, or
   * null. The exchange switches before the hash key and the first pick.
   */
  serviceOverride: string | null;
  /** A request body limit in bytes (0: none), enforced as the body streams: over it the client gets 413. */
  bodyLimit: number;
  /**
   * A stream the response body is written through on its way to the client (compression), set in
   * header_filter of a proxied response; the exchange pipes it to the client with backpressure.
   */
  encoder: Duplex | null;
  /** Per-request data a plugin keeps between its hooks, by the plugin's name. */
  data(name: string): unknown;
  setData(name: string, value: unknown): void;
  /** Set a header on the request to the target (lower-case name); `null` removes it. */
  setRequestHeader(name: string, value: string | null): void;
  /** Add a header to the response the client gets (proxied or local). */
  addResponseHeader(name: string, value: string): void;
  /**
   * The request body, buffered for the access phase (request-body.ts): the whole body when it fits
   * in `limit` bytes, null when there is none or it is larger (it is then streamed to the target
   * untouched), or a Wait to return while it arrives. The first caller's limit applies.
   */
  requestBody(limit: number): Buffer | null | Wait;
  /** Replace the buffered body sent to the target (Content-Length is set to its length). */
  setRequestBody(body: Buffer): void;
}

/** The response head a header_filter hook may edit: `headers` is a flat [name, value, ...] list. */
export interface ResponseHead {
  readonly status: number;
  readonly headers: string[];
  /** True when the head is the proxy's own local reply, not a target's. */
  readonly local: boolean;
}

/** A problem in a plugin's config, at a path relative to `config`. */
export interface ConfigProblem {
  readonly path: readonly PathPart[];
  readonly message: string;
}

export interface BuildEnv {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly consumers: ConsumerIndex;
  readonly trusted: BlockList | null;
  /**
   * State that outlives generations (rate-limiting counters), by a key that starts with the
   * instance id; made on first use. State not asked for when a generation is built is dropped when
   * that generation goes into service, and its `dispose()`, if it has one, is called then.
   */
  state<T>(key: string, make: () => T): T;
  /**
   * Change state kept from the generation in service (what `state` returned, or anything else that
   * outlives generations) when this generation goes into service, not while it is built: the build
   * may yet be abandoned (copy-on-swap, src/runtime/swap-plan.ts). Steps run in the order given.
   */
  atSwap(step: () => void): void;
  /**
   * Rate-limit counts shared beyond this process (workers, Redis); absent or answering null: count
   * here. The policies it makes live as long as the node (they hold connections).
   */
  readonly counters?: SharedCounters | null;
}

export interface PluginDef<Conf = unknown, Built = unknown> {
  /** Kong's name for the plugin; stable, documented. */
  readonly name: string;
  /** Higher runs first within a phase (Kong's PRIORITY where Kong has the plugin). */
  readonly priority: number;
  /** Authentication plugins cannot be scoped to a consumer (there is none before they run). */
  readonly noConsumer: boolean;
  /** JSON Schema (draft-07) of `config`, with defaults and descriptions. */
  readonly schema: Record<string, unknown>;
  /**
   * Kong's fields of this plugin's `config` (kong/plugins/<name>/schema.lua, 3.9) and what Fulcrum
   * does with each (config/kong-fields.ts); absent for plugins Kong does not have. The registry
   * splices the ignored ones into `schema`.
   */
  readonly kong?: KongTable;
  /** Semantic checks on a structurally valid config; fills defaults. Problems make it refused. */
  check(raw: Record<string, unknown>, problems: ConfigProblem[]): Conf;
  /** Services the config names, checked to exist when the file loads (paths relative to `config`). */
  serviceRefs?(conf: Conf): readonly { readonly path: readonly PathPart[]; readonly name: string }[];
  /** Compile the normalized config into what the hooks read (once per generation). */
  build(conf: Conf, env: BuildEnv, instanceId: string): Built;
  rewrite?(r: PluginRequest, b: Built): AccessResult;
  access?(r: PluginRequest, b: Built): AccessResult;
  headerFilter?(r: PluginRequest, b: Built, head: ResponseHead): void;
  /** A chunk of the target's response body as it is relayed; `null` once it has all arrived. */
  bodyFilter?(r: PluginRequest, b: Built, chunk: Buffer | null): void;
  log?(r: PluginRequest, b: Built, status: number): void;
}

/** The erased form the registry and the chain hold. */
// biome-ignore lint/suspicious/noExplicitAny: each plugin's own types are checked in its file
export type AnyPlugin = PluginDef<any, any>;
