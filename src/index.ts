/**
 * The package's main entry (`import { startFulcrum } from 'fulcrum'`): a Fulcrum node inside an
 * application, from a declarative document or file. A thin handle over the node lifecycle the CLI
 * drives (src/runtime/node.ts): the same validation, swaps, drain and stop, nothing duplicated. The
 * client-side balancing library is `fulcrum/client`; the file's types and validator `fulcrum/config`.
 */
import type { AddressInfo } from 'node:net';
import type { FulcrumConfig } from './config/file-types.ts';
import type { ConfigIssue } from './config/load.ts';
import { FulcrumNode, type ReloadResult } from './runtime/node.ts';
import { MemoryStore } from './store/memory-store.ts';

export type * from './config/file-types.ts';
export { ConfigError, type ConfigIssue } from './config/load.ts';
export { validateConfig } from './config/public.ts';
export type { ReloadResult } from './runtime/node.ts';

export interface StartOptions {
  /** The declarative configuration as an object, in the file's shape (docs/configuration.md). */
  readonly config?: FulcrumConfig;
  /** Or a declarative file, YAML or JSON. */
  readonly file?: string;
  /** With `file`: reload when the file changes (as `fulcrum start --watch`). */
  readonly watch?: boolean;
  /** This node's zone for zone-aware balancing (overrides the document's `zone`). */
  readonly zone?: string;
  /** Override the document's logging: `silent`, `info`, ...; and the access log (`off`, `stdout`, a path). */
  readonly logLevel?: string;
  readonly accessLog?: string;
}

export interface FulcrumHandle {
  /**
   * Swap in a new configuration: `config`, or (without it) the file re-read. A refused one leaves
   * the running configuration serving and resolves `{ ok: false, issues }`.
   */
  reload(config?: FulcrumConfig): Promise<ReloadResult>;
  /** Graceful stop: stop accepting, let in-flight requests finish (up to `timeouts.drain`), close. */
  close(): Promise<void>;
  /** What the admin API's `GET /status` answers (docs/admin-api.md). */
  status(): Record<string, unknown>;
  /** The bound proxy listeners (a `port: 0` listener shows the port it got). */
  proxyAddresses(): AddressInfo[];
  /** The admin listener's address, or null when the admin API is off. */
  adminAddress(): AddressInfo | null;
}

/**
 * Starts a node from `config` or `file`: listeners bound, admin API up when configured. Rejects with
 * a ConfigError listing every problem when the configuration is refused.
 */
export async function startFulcrum(options: StartOptions): Promise<FulcrumHandle> {
  if ((options.config === undefined) === (options.file === undefined))
    throw new TypeError('startFulcrum: give either `config` or `file`');
  const store = options.config === undefined ? null : new MemoryStore(options.config);
  const node = await FulcrumNode.start({
    ...(store === null ? { configFile: options.file!, watch: options.watch === true } : { store }),
    ...(options.zone === undefined ? {} : { zone: options.zone }),
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    ...(options.accessLog === undefined ? {} : { accessLog: options.accessLog }),
  });
  return {
    reload(config?: FulcrumConfig): Promise<ReloadResult> {
      if (config !== undefined) {
        if (store === null)
          return Promise.resolve(refused('this node runs from a file: reload() re-reads it'));
        const before = store.document;
        store.document = config;
        // A refused document must not come back on the next reload().
        return node.reload().then((r) => {
          if (!r.ok) store.document = before;
          return r;
        });
      }
      return node.reload();
    },
    close: () => node.stop(),
    status: () => node.status() as Record<string, unknown>,
    proxyAddresses: () => node.proxyAddresses(),
    adminAddress: () => node.adminAddress(),
  };
}

function refused(message: string): ReloadResult {
  const issue: ConfigIssue = { file: '<config>', line: 0, column: 0, path: '', message };
  return { ok: false, issues: [issue] };
}
