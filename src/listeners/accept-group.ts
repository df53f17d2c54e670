/**
 * The listening sockets of one TCP listener (http, https, h2c, tcp, tls_passthrough), and why
 * there can be several on one port.
 *
 * Node's libuv (1.45 on: Node 20 and 24) accepts one connection per listening socket per turn of
 * the event loop. Under load a turn lasts milliseconds (3-7 ms at 256 busy connections), so when
 * hundreds of clients connect at once (a client fleet restarting, the balancer in front failing
 * over) the last of them waited up to a second in the kernel's accept queue, and the requests they
 * had already sent were answered that late (docs/benchmarks.md, 2026-12-07). nginx
 * (`multi_accept`) and HAProxy (`tune.maxaccept`) take many connections per wake-up.
 *
 * Where Node binds SO_REUSEPORT groups (22.12 and 23.1 on, Linux), a listener binds
 * `accept_sockets` sockets on its port: the kernel spreads new connections over their queues and a
 * turn accepts up to one per socket. Connections accepted on the extra sockets are handed to the
 * listener's own server as its 'connection' events, so TLS, the PROXY protocol and h2c sniffing
 * see no difference. Before a group is bound, a plain bind checks that the port is free: another
 * process on it (a second Fulcrum included) is refused with EADDRINUSE rather than joined.
 */
import cluster from 'node:cluster';
import { type AddressInfo, createServer, type ListenOptions, type Server } from 'node:net';
import process from 'node:process';
import { reusePortAvailable } from '../workers/listen-mode.ts';
import { bindOptions } from './bind-options.ts';

/** Sockets per listener when `accept_sockets` is `auto` and groups are available. */
export const AUTO_ACCEPT_SOCKETS = 16;

/** The options the listener's server accepts its connections with (the extra sockets use them too). */
export interface AcceptOptions {
  readonly allowHalfOpen?: boolean;
  readonly pauseOnConnect?: boolean;
  readonly noDelay?: boolean;
}

/** How cleartext HTTP connections are accepted: bytes leave as written, half-close is kept. */
export const CLEARTEXT: AcceptOptions = { noDelay: true, allowHalfOpen: true };

/**
 * How many sockets each TCP listener of this process binds for `accept_sockets` (0: auto). One in a
 * worker of the cluster module (it shares the primary's socket) and where Node cannot bind a group;
 * a number above one asked of such a Node is an error, as `worker_listen: reuseport` is.
 */
export function acceptSocketCount(setting: number): number {
  if (cluster.isWorker && bindOptions.reusePort !== true) return 1;
  if (!reusePortAvailable()) {
    if (setting > 1)
      throw new Error(
        `accept_sockets: ${setting} needs Node 22.12 or later on Linux (this is Node ${process.versions.node} on ${process.platform}); use auto or 1`,
      );
    return 1;
  }
  return setting === 0 ? AUTO_ACCEPT_SOCKETS : setting;
}

/** `reusePort` is Node 22.12's (this project's @types/node is Node 20's). */
type BindOptions = ListenOptions & { reusePort?: boolean };

function bind(server: Server, options: BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (server.listening) server.close(() => resolve());
    else resolve();
  });
}

export class ListeningSockets {
  private readonly main: Server;
  private readonly options: AcceptOptions;
  private extras: Server[] = [];

  /** `main`: the listener's server; `options`: the ones it was created with. */
  constructor(main: Server, options: AcceptOptions) {
    this.main = main;
    this.options = options;
  }

  /** Bind the listener's server on host:port, then `setting`'s extra sockets on the port it got. */
  async listen(host: string, port: number, setting: number): Promise<AddressInfo> {
    const count = acceptSocketCount(setting);
    const base: BindOptions = { host, backlog: 4096, ...bindOptions };
    if (count > 1 && bindOptions.reusePort !== true && port !== 0) {
      // Alone on the port? A group would silently share it with another process's group.
      const probe = createServer();
      await bind(probe, { ...base, port });
      await closeServer(probe);
    }
    await bind(this.main, count > 1 ? { ...base, port, reusePort: true } : { ...base, port });
    const bound = this.main.address() as AddressInfo;
    try {
      for (let i = 1; i < count; i++) {
        const extra = createServer(this.options, (s) => this.main.emit('connection', s));
        this.extras.push(extra);
        await bind(extra, { ...base, port: bound.port, reusePort: true });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    return bound;
  }

  address(): AddressInfo | null {
    return this.main.address() as AddressInfo | null;
  }

  /** Stop accepting on every socket; resolves once the connections each one accepted have ended. */
  close(): Promise<void> {
    const all = [this.main, ...this.extras];
    this.extras = [];
    return Promise.all(all.map(closeServer)).then(() => {});
  }
}
