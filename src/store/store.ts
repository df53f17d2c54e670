/**
 * Where configuration lives, behind one small interface so that a shared store for several nodes
 * (Redis, etcd, a database) can come later without touching the admin API:
 *
 * - FileStore (file-store.ts): the declarative file is the source of truth and is never written
 *   (Kong DB-less). Admin reads work; entity writes are refused; POST /config replaces the
 *   configuration in memory until the next reload.
 * - ManagedStore (managed-store.ts): a local JSON state file the admin API writes on every accepted
 *   change (atomic: temp file, fsync, rename, fsync of the directory).
 * - ClusterStore (cluster-store.ts): the entities in Redis, shared by the nodes of a cluster, each
 *   write a compare-and-set that every node then applies; the local file keeps each node's own
 *   settings, a local cache file the last version received.
 */
import type { ParsedSource } from '../config/load.ts';
import type { State } from './document.ts';

/** What a store holds when read: a declarative document, an entity state, or nothing yet. */
export type Loaded =
  | { readonly kind: 'document'; readonly source: ParsedSource }
  | { readonly kind: 'state'; readonly version: number; readonly state: State }
  | { readonly kind: 'empty' };

export interface ConfigStore {
  readonly kind: 'file' | 'managed' | 'cluster';
  /** The file path, for messages and status. */
  readonly location: string;
  /** True when entity writes may be persisted here. */
  readonly writable: boolean;
  /** Read the source of truth; throws ConfigError when it exists but cannot be used. */
  load(): Loaded;
  /**
   * For a store that holds its document in memory (embedding): the document's text, which a
   * reload validates as a POST /config body would be; absent for stores backed by a file.
   */
  documentText?(): string;
  /** Persist a state durably before it is put in service; throws when it cannot. */
  save(version: number, state: State): void;
  /**
   * A shared store: publish a new version built on `before` before it is put in service here
   * (throws ClusterWriteError: 409 when another writer came first, 503 when the store is away).
   * Stores without it persist through `save` in the config pipeline.
   */
  publish?(before: number, version: number, state: State): Promise<void>;
}
