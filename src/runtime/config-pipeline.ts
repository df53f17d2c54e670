/**
 * Config jobs (src/store/config-jobs.ts) in a worker thread, so that parsing, validating and
 * normalizing a large configuration never holds the event loop that serves traffic: a 1 MB YAML
 * file alone takes the yaml package a second or more, and no part of it can be cut into steps.
 *
 * Both directions move in pieces (src/core/bulk.ts): the main thread posts a job's slices one per
 * turn of its event loop, and asks for the result's slices one at a time, each after a turn, so a
 * message never costs it more than a slice to (de)serialize. Snapshot items are frozen as they
 * arrive. The worker starts on the first job, stops after CONFIG_WORKER_IDLE_MS without one, and
 * has a heap of its own (CONFIG_WORKER_HEAP_MB): a document that needs more is refused, the process
 * lives on. A worker that dies answers its jobs with a refusal, and the next job starts a new one.
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Snapshot } from '../config/types.ts';
import { type BulkHead, BulkJoin, type BulkPart, deepFreeze, splitBulk } from '../core/bulk.ts';
import { after, type Scheduler } from '../core/pace.ts';
import {
  type ConfigJob,
  type ConfigJobResult,
  type ConfigPipeline,
  runConfigJob,
} from '../store/config-jobs.ts';
import { KINDS, type State } from '../store/document.ts';

/**
 * Jobs this small run in-process: they take a few milliseconds (the yaml package parses about
 * 1 MB/s; validating and normalizing costs some 40 µs per entity), less than a worker round trip,
 * and a node whose configuration stays small never starts a worker.
 */
export const CONFIG_INLINE_MAX_BYTES = 16 * 1024;
export const CONFIG_INLINE_MAX_ENTITIES = 100;
/** Stop the worker after this long without a job (it holds 30-40 MB while it lives). */
export const CONFIG_WORKER_IDLE_MS = 30_000;
/** The worker's heap: several times what the largest document (MAX_CONFIG_DOCUMENT_BYTES) needs. */
export const CONFIG_WORKER_HEAP_MB = 1024;

export type ToWorker =
  | { readonly t: 'job'; readonly id: number; readonly head: BulkHead }
  | { readonly t: 'part'; readonly id: number; readonly part: BulkPart }
  | { readonly t: 'end'; readonly id: number }
  | { readonly t: 'more'; readonly id: number };

export type FromWorker =
  | { readonly t: 'head'; readonly id: number; readonly head: BulkHead }
  | { readonly t: 'part'; readonly id: number; readonly part: BulkPart }
  | { readonly t: 'end'; readonly id: number }
  | { readonly t: 'error'; readonly id: number; readonly message: string };

interface Pending {
  readonly job: ConfigJob;
  readonly resolve: (r: ConfigJobResult) => void;
  join: BulkJoin | null;
}

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './config-worker.ts' : './config-worker.js',
  import.meta.url,
);

/** The file a job is about, for a refusal that has no better place to point at. */
function fileOf(job: ConfigJob): string {
  switch (job.kind) {
    case 'state':
      return job.source;
    case 'save':
      return job.save.file;
    default:
      return job.file;
  }
}

/** The size of a job's input: bytes of its text or file, or entities of its state. */
function small(job: ConfigJob): boolean {
  const entities = (st: State) => KINDS.reduce((n, k) => n + st[k].length, 0);
  switch (job.kind) {
    case 'body':
      return (
        job.text.length <= CONFIG_INLINE_MAX_BYTES &&
        (job.previous === null || entities(job.previous) <= CONFIG_INLINE_MAX_ENTITIES)
      );
    case 'state':
    case 'save':
      return entities(job.state) <= CONFIG_INLINE_MAX_ENTITIES;
    default: {
      const size = statSync(job.file, { throwIfNoEntry: false })?.size ?? 0;
      return (
        size <= CONFIG_INLINE_MAX_BYTES &&
        (job.kind !== 'file' || job.previous === null || entities(job.previous) <= CONFIG_INLINE_MAX_ENTITIES)
      );
    }
  }
}

export class WorkerPipeline implements ConfigPipeline {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private idle: { cancel(): void } | null = null;
  private readonly scheduler: Scheduler;
  private readonly heapMb: number;
  /** Jobs sent to the worker so far, and worker threads started (for tests). */
  jobs = 0;
  started = 0;

  constructor(scheduler: Scheduler, opts: { heapMb?: number } = {}) {
    this.scheduler = scheduler;
    this.heapMb = opts.heapMb ?? CONFIG_WORKER_HEAP_MB;
  }

  async run(job: ConfigJob): Promise<ConfigJobResult> {
    if (small(job)) return runConfigJob(job);
    this.jobs++;
    this.idle?.cancel();
    this.idle = null;
    const worker = this.ensure();
    worker.ref(); // a job in flight keeps the process alive; an idle worker does not
    const id = this.nextId++;
    const done = new Promise<ConfigJobResult>((resolve) =>
      this.pending.set(id, { job, resolve, join: null }),
    );
    const { head, parts } = splitBulk(job);
    worker.postMessage({ t: 'job', id, head } satisfies ToWorker);
    for (const part of parts) {
      await this.scheduler.turn();
      if (this.worker !== worker) break; // it died: the job is answered already
      worker.postMessage({ t: 'part', id, part } satisfies ToWorker);
    }
    if (this.worker === worker) worker.postMessage({ t: 'end', id } satisfies ToWorker);
    return done;
  }

  async close(): Promise<void> {
    this.idle?.cancel();
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate();
  }

  private ensure(): Worker {
    if (this.worker !== null) return this.worker;
    const w = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: this.heapMb } });
    this.started++;
    w.unref();
    w.on('message', (m: FromWorker) => this.onMessage(w, m));
    w.on('error', (err: Error) => this.lost(w, err));
    w.on('exit', (code) => this.lost(w, new Error(`the config worker exited (${code})`)));
    this.worker = w;
    return w;
  }

  private onMessage(w: Worker, m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    switch (m.t) {
      case 'head':
        p.join = new BulkJoin(m.head, (item, path) => (path[0] === 'snapshot' ? deepFreeze(item) : item));
        this.more(w, m.id);
        break;
      case 'part':
        p.join?.add(m.part);
        this.more(w, m.id);
        break;
      case 'end': {
        const result = p.join?.value as ConfigJobResult;
        if (result.ok && result.snapshot !== null) deepFreeze(result.snapshot as Snapshot);
        this.settle(m.id, result);
        break;
      }
      case 'error':
        this.settle(m.id, this.failed(p.job, `cannot process the configuration: ${m.message}`));
        break;
    }
  }

  /** Ask for the next slice after a turn of the event loop (traffic first). */
  private more(w: Worker, id: number): void {
    void this.scheduler.turn().then(() => {
      if (this.worker === w) w.postMessage({ t: 'more', id } satisfies ToWorker);
    });
  }

  private settle(id: number, result: ConfigJobResult): void {
    const p = this.pending.get(id);
    this.pending.delete(id);
    p?.resolve(result);
    if (this.pending.size === 0 && this.worker !== null) {
      this.worker.unref();
      this.idle?.cancel();
      this.idle = after(CONFIG_WORKER_IDLE_MS, () => {
        if (this.pending.size === 0) void this.close();
      });
    }
  }

  private lost(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    const oom = /ERR_WORKER_OUT_OF_MEMORY/.test(String((err as NodeJS.ErrnoException).code ?? err.message));
    const why = oom
      ? `processing it needs more than the config worker's ${this.heapMb} MB heap (CONFIG_WORKER_HEAP_MB)`
      : err.message;
    for (const [id, p] of [...this.pending])
      this.settle(id, this.failed(p.job, `cannot process the configuration: ${why}`));
  }

  private failed(job: ConfigJob, message: string): ConfigJobResult {
    return {
      ok: false,
      status: 400,
      issues: [{ file: fileOf(job), line: 0, column: 0, path: '', message }],
      base: null,
    };
  }
}
