/**
 * A worker process of a node (`workers: N`): started by the primary (src/workers/pool.ts) through
 * Node's cluster module, it serves every proxy listener with a runtime of its own, built from the
 * snapshots the primary hands it, and nothing else: no admin listener, no file watching, no active
 * health probes (the primary probes and passes the outcomes on), rate limits and circuit
 * breakers counted by the primary. It stops when told, or when its primary is gone.
 */
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { AffinityShare } from '../cluster/affinity-share.ts';
import { RedisCaches } from '../cluster/proxy-cache-redis.ts';
import { RedisCounters } from '../cluster/rate-limit-redis.ts';
import type { ConfigIssue } from '../config/load.ts';
import type { Snapshot } from '../config/types.ts';
import { BulkJoin, deepFreeze } from '../core/bulk.ts';
import { systemClock } from '../core/clock.ts';
import type { HealthShare } from '../health/share.ts';
import { bindOptions } from '../listeners/bind-options.ts';
import { createLogs } from '../observability/access-log.ts';
import type { SharedCounters } from '../plugins/rate-limit-policy.ts';
import { adoptDefaultSecret } from '../proxy/sticky.ts';
import { FulcrumNode, type PreparedChange } from '../runtime/node.ts';
import { type CounterAsk, WorkerCounters } from './counters.ts';
import type { FromWorker, ToWorker, WorkerSettings } from './protocol.ts';
import { SnapshotReuse } from './snapshot-reuse.ts';
import { WorkerBreakers } from './worker-breakers.ts';

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

// The primary decides what signals mean for the node; a terminal's Ctrl-C reaches the whole
// process group, and the primary drains the workers itself.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.on('SIGUSR1', () => {});

const counters = new WorkerCounters((m: CounterAsk) => send(m));
/** Circuit breakers and the retry budget, counted by the primary for the whole node. */
const breakers = new WorkerBreakers(send, systemClock);
/** `policy: redis`: each worker talks to Redis itself (made at start, with the settings). */
let redis: RedisCounters | null = null;
/** proxy-cache `strategy: redis`: each worker talks to Redis itself too. */
let caches: RedisCaches | null = null;
/** The cluster's live nodes (the primary says when it changes). */
let nodes = 1;
const shared: SharedCounters = {
  policy: (req) => (req.conf.policy === 'redis' ? (redis?.policy(req) ?? null) : counters.policy(req)),
  cache: (req) => caches?.cache(req) ?? null,
};
const health: HealthShare = {
  probes: () => false,
  publish: (e) => send({ t: 'health', e }),
};

let node: FulcrumNode | null = null;
/** The snapshot arriving in slices, and what to do with it once whole. */
let incoming: { join: BulkJoin; reuse: SnapshotReuse; then: (s: Snapshot) => void } | null = null;
let prepared: { generation: number; change: PreparedChange } | null = null;
let stopping = false;

async function start(
  settings: WorkerSettings,
  generation: number,
  snapshot: Snapshot,
  verdicts: ToWorker & { t: 'start' },
) {
  if (settings.mode === 'reuseport') {
    bindOptions.reusePort = true;
    bindOptions.exclusive = true;
  }
  nodes = settings.nodes ?? 1;
  const log = createLogs(
    settings.logLevel ?? 'info',
    'off',
    systemClock,
    settings.logFormat ?? 'json',
  ).app.child({
    worker: settings.index,
  });
  const clusterUrl = settings.clusterRedis ?? null;
  caches = new RedisCaches({ clock: systemClock, log, clusterUrl, prefix: settings.clusterPrefix });
  // Each worker's source-ip tables are its own: shared through Redis with every other process.
  const affinityShare =
    clusterUrl === null
      ? undefined
      : new AffinityShare({
          url: clusterUrl,
          prefix: settings.clusterPrefix ?? 'fulcrum',
          timeoutMs: settings.clusterTimeoutMs ?? 1000,
          clock: systemClock,
          log,
        });
  redis = new RedisCounters({
    clock: systemClock,
    log,
    clusterUrl: settings.clusterRedis ?? null,
    prefix: settings.clusterPrefix,
    // While Redis is away each live node takes its share of a limit, counted by the primary
    // (exact across the node's workers).
    share: () => nodes,
    localPolicy: (key, longestMs) => counters.keyed(key, longestMs),
  });
  try {
    node = await FulcrumNode.start({
      snapshot,
      admin: false,
      discovery: false,
      generation,
      healthShare: health,
      counters: shared,
      breakers,
      ...(affinityShare === undefined ? {} : { affinityShare }),
      logBindings: { worker: settings.index },
      startedMessage: 'worker started',
      ...(settings.logLevel === undefined ? {} : { logLevel: settings.logLevel }),
      ...(settings.logFormat === undefined ? {} : { logFormat: settings.logFormat }),
      ...(settings.accessLog === undefined ? {} : { accessLog: settings.accessLog }),
      ...(settings.configWorker === undefined ? {} : { configWorker: settings.configWorker }),
    });
  } catch (err) {
    send({ t: 'failed', message: (err as Error).message });
    process.exit(1);
  }
  redis.register(node.runtime.metrics.registry);
  caches.register(node.runtime.metrics.registry);
  for (const e of verdicts.health) node.runtime.health.receive(e);
  send({ t: 'ready', generation: node.runtime.current.id, addresses: node.proxyAddresses() });
}

async function prepare(generation: number, snapshot: Snapshot): Promise<void> {
  if (node === null) return;
  if (prepared !== null) node.abort(prepared.change);
  prepared = null;
  let p: Awaited<ReturnType<FulcrumNode['prepare']>>;
  try {
    p = await node.prepare(snapshot, generation);
  } catch (err) {
    const issue: ConfigIssue = {
      file: snapshot.source,
      line: 0,
      column: 0,
      path: '',
      message: (err as Error).message,
    };
    send({ t: 'refused', generation, issues: [issue] });
    return;
  }
  if ('issues' in p) return send({ t: 'refused', generation, issues: p.issues });
  prepared = { generation, change: p };
  send({ t: 'prepared', generation });
}

function snapshotThen(
  head: Extract<ToWorker, { t: 'start' | 'prepare' }>['head'],
  then: (s: Snapshot) => void,
) {
  // Equal objects of the snapshot in service take the place of the new ones, so that the build
  // keeps what did not change (snapshot-reuse.ts); an identical snapshot (same hash) builds
  // nothing anyway and is not compared.
  const current = node?.runtime.current.snapshot ?? null;
  const same = current !== null && (head.value as { hash?: unknown }).hash === current.hash;
  const reuse = new SnapshotReuse(same ? null : current);
  incoming = { join: new BulkJoin(head, (item, path) => deepFreeze(reuse.item(item, path))), reuse, then };
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await node?.stop();
  counters.close();
  breakers.close();
  redis?.close();
  caches?.close();
  process.exit(0);
}

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start':
      return snapshotThen(m.head, (s) => void start(m.settings, m.generation, s, m));
    case 'prepare':
      return snapshotThen(m.head, (s) => void prepare(m.generation, s));
    case 'part':
      incoming?.join.add(m.part);
      return;
    case 'end': {
      const done = incoming;
      incoming = null;
      if (done !== null) done.then(deepFreeze(done.reuse.finish(done.join.value as Snapshot)));
      return;
    }
    case 'commit':
      if (node !== null && prepared?.generation === m.generation) {
        node.commit(prepared.change);
        prepared = null;
      }
      return send({ t: 'committed', generation: m.generation });
    case 'abort':
      if (node !== null && prepared?.generation === m.generation) node.abort(prepared.change);
      prepared = null;
      return;
    case 'health':
      node?.runtime.health.receive(m.e);
      return;
    case 'nodes':
      nodes = m.count;
      return;
    case 'sticky-key':
      adoptDefaultSecret(Buffer.from(m.key, 'hex'));
      return;
    case 'rl':
      return counters.answer(m);
    case 'cb':
      return breakers.answer(m);
    case 'ask':
      if (node === null) return send({ t: 'answer', id: m.id, value: null });
      if (m.what === 'status') return send({ t: 'answer', id: m.id, value: node.status() });
      void node.runtime.metrics.render().then((text) => send({ t: 'answer', id: m.id, value: text }));
      return;
    case 'reopen':
      node?.logs.reopen();
      return;
    case 'stop':
      void stop();
      return;
  }
});

// The primary is gone (killed): nobody will tell this worker what to do any more.
process.on('disconnect', () => {
  // Nobody answers for the breakers any more: what is being drained goes on without them.
  breakers.close();
  void stop();
});
send({ t: 'hello' });
