/**
 * How proxy listeners bind, set once per process before the first listener binds. Empty (the
 * default, and in a single-process node): a plain bind. In a worker of a node that spreads
 * connections by SO_REUSEPORT (src/workers/listen-mode.ts), every worker binds its own socket on
 * the same port (`reusePort`) instead of taking the primary's (`exclusive`: not through the cluster
 * module); Node has the option from 22.12 and 23.1 on.
 */
export const bindOptions: { reusePort?: boolean; exclusive?: boolean } = {};
