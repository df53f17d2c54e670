/**
 * How a node's worker processes share its listening ports, and why there are two ways.
 *
 * - `reuseport`: every worker binds its own socket on the same port with SO_REUSEPORT, and the
 *   Linux kernel hashes each new connection (each UDP flow) to one of them. No process sits between
 *   the kernel and the workers, so accepting scales with the workers. Node offers the option from
 *   22.12 and 23.1 on (`reusePort` in `net.Server.listen` and `dgram.createSocket`), and only on
 *   Linux does the kernel balance a reuseport group.
 * - `cluster`: Node's cluster module. The primary holds the listening socket and hands each
 *   accepted connection to the next worker in turn (SCHED_RR, the default on Linux): an even
 *   spread, at the cost of one IPC hand-over per connection through the primary. UDP sockets are
 *   shared (every worker reads the one socket). Works on any Node version and platform.
 *
 * `auto` takes `reuseport` where the running Node and platform offer it, `cluster` otherwise
 * (Node 20, the version this project supports first, has no reusePort). docs/cluster.md has the
 * measured spreads.
 */
import process from 'node:process';

export type ListenMode = 'reuseport' | 'cluster';

/** Whether this Node and platform can bind a reuseport group that the kernel balances. */
export function reusePortAvailable(
  version: string = process.versions.node,
  platform: string = process.platform,
): boolean {
  if (platform !== 'linux') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The mode a setting asks for on this Node; `reuseport` where it is not available is an error. */
export function listenMode(setting: 'auto' | ListenMode): ListenMode {
  if (setting === 'cluster') return 'cluster';
  if (reusePortAvailable()) return 'reuseport';
  if (setting === 'reuseport')
    throw new Error(
      `worker_listen: reuseport needs Node 22.12 or later on Linux (this is Node ${process.versions.node} on ${process.platform})`,
    );
  return 'cluster';
}
