/**
 * The configuration control plane behind the admin API: the entity state in force, its version,
 * the store it lives in, and the one way to change it. Every change (an entity write, POST /config,
 * a reload) runs the whole new document through the file's validator and normalizer, swaps a
 * generation exactly as a SIGHUP reload does, and only then becomes the state in force; a refused
 * change leaves the state, the store and the running generation untouched. Changes are serialized
 * (one at a time, in arrival order) so two writers never build on the same base.
 */
import type { Logger } from 'pino';
import { ConfigError, type ConfigIssue, formatPath, type PathPart } from '../config/load.ts';
import type { Snapshot } from '../config/types.ts';
import { snapshotFromSource } from '../config/validate.ts';
import type { Clock } from '../core/clock.ts';
import {
  type ConfigJob,
  type ConfigJobResult,
  type ConfigPipeline,
  inlinePipeline,
  type SaveTo,
  snapshotOf,
} from '../store/config-jobs.ts';
import { emptyState, importDocument, type State } from '../store/document.ts';
import type { ConfigStore } from '../store/store.ts';

export { snapshotOf };

/** What applying a snapshot to the node answered (FulcrumNode.applySnapshot). */
export type ApplyResult =
  | { ok: true; generation: number; hash: string; changed: boolean }
  | { ok: false; issues: readonly ConfigIssue[] };

/** One line of the audit log: who changed what, and the configuration version before and after. */
export interface AuditEntry {
  readonly time: string;
  /** The client's address (`127.0.0.1:51234`), or `signal`/`cli` for reloads. */
  readonly who: string;
  /** Whether the request carried a valid admin token (false when no token is configured). */
  readonly token: boolean;
  readonly method: string;
  readonly path: string;
  /** `services/<id>`, `config`, ...; empty when the change was refused before an entity was known. */
  readonly entity: string;
  readonly before: number;
  readonly after: number;
  readonly result: 'applied' | 'refused';
}

export interface Caller {
  readonly who: string;
  readonly token: boolean;
  readonly method: string;
  readonly path: string;
}

/** A change: from the state in force, the new state and the entity it is about (or a refusal). */
export type Mutation<T> = (current: State) => { state: State; entity: string; value: T } | Refusal;

/**
 * Kong's error codes (kong/db/errors.lua) by error name: a client such as decK reads `code`.
 * Refusals Kong has no name for carry their HTTP status as the code.
 */
const KONG_CODES: Readonly<Record<string, number>> = {
  'invalid primary key': 1,
  'schema violation': 2,
  'primary key violation': 3,
  'foreign key violation': 4,
  'unique constraint violation': 5,
  'not found': 6,
  'invalid offset': 7,
  'invalid size': 9,
  'invalid filter': 20,
};

/** A refusal with an HTTP status and a Kong-style body: `{code, name, message, fields}`. */
export class Refusal {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, name: string, message: string, extra: Record<string, unknown> = {}) {
    this.status = status;
    this.body = { code: KONG_CODES[name] ?? status, name, message, ...extra };
  }
}

/**
 * Flat field paths (`config.minute`, `paths[1]`) nested as Kong nests them: records as objects,
 * lists as arrays (`{"paths": [null, "..."]}`), so `fields.config.minute` is the message.
 */
export function nestFields(flat: Readonly<Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [path, message] of Object.entries(flat)) {
    const parts = path.match(/[^.[\]]+|\[\d+\]/g) ?? [path];
    let node: Record<string, unknown> | unknown[] = out;
    parts.forEach((raw, i) => {
      const key: string | number = raw.startsWith('[') ? Number(raw.slice(1, -1)) : raw;
      const last = i === parts.length - 1;
      const slot = (node as Record<string | number, unknown>)[key];
      if (last) {
        (node as Record<string | number, unknown>)[key] =
          slot === undefined || slot === null
            ? message
            : typeof slot === 'string'
              ? `${slot}; ${message}`
              : slot;
        return;
      }
      const wantList = parts[i + 1]!.startsWith('[');
      if (slot === undefined || slot === null || typeof slot !== 'object') {
        const made = wantList ? [] : {};
        (node as Record<string | number, unknown>)[key] = made;
        node = made;
      } else node = slot as Record<string, unknown>;
    });
  }
  // Arrays written by index have holes: JSON shows them as null, as Kong's do.
  return JSON.parse(JSON.stringify(out));
}

export const AUDIT_KEEP = 200;

/**
 * A 400 naming every failing field: paths inside the entity being written are given relative to
 * it (`paths[0]`), others as document paths (`services[1].host`).
 */
export function schemaRefusal(issues: readonly ConfigIssue[], base: readonly PathPart[] | null): Refusal {
  const prefix = base === null ? null : formatPath(base);
  const fields: Record<string, string> = {};
  const list: { path: string; message: string }[] = [];
  for (const i of issues) {
    let path = i.path;
    if (
      prefix !== null &&
      prefix !== '' &&
      (path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`))
    )
      path = path.slice(prefix.length).replace(/^\./, '');
    const key = path || '@entity';
    fields[key] = fields[key] === undefined ? i.message : `${fields[key]}; ${i.message}`;
    list.push({ path, message: i.message });
  }
  const summary = list.map((i) => `${i.path || '(entity)'}: ${i.message}`).join('; ');
  return new Refusal(
    400,
    'schema violation',
    `${list.length} schema violation${list.length === 1 ? '' : 's'} (${summary})`,
    { fields: nestFields(fields), issues: list },
  );
}

export class ConfigControl {
  readonly store: ConfigStore;
  private current: State;
  private ver: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly apply: (s: Snapshot) => Promise<ApplyResult>;
  /** Where validation, normalization and persistence run (a worker thread in a node). */
  readonly pipeline: ConfigPipeline;
  private queue: Promise<unknown> = Promise.resolve();
  /** The latest audit entries, newest last (also written to the application log). */
  readonly audits: AuditEntry[] = [];

  constructor(
    store: ConfigStore,
    initial: { state: State; version: number },
    deps: {
      clock: Clock;
      log: Logger;
      apply: (s: Snapshot) => Promise<ApplyResult>;
      pipeline?: ConfigPipeline;
    },
  ) {
    this.store = store;
    this.current = initial.state;
    this.ver = initial.version;
    this.clock = deps.clock;
    this.log = deps.log;
    this.apply = deps.apply;
    this.pipeline = deps.pipeline ?? inlinePipeline;
  }

  /**
   * Read a store for the first time: the state and the snapshot to start with. A managed store
   * with no state file yet starts from `seed` (a declarative file) when given, else empty.
   */
  static open(
    store: ConfigStore,
    clock: Clock,
    seed?: ConfigStore,
  ): { state: State; version: number; snapshot: Snapshot; seeded: boolean } {
    let loaded = store.load();
    let seeded = false;
    if (loaded.kind === 'empty' && seed !== undefined) {
      loaded = seed.load();
      seeded = true;
    }
    const now = Math.floor(clock.nowMs() / 1000);
    if (loaded.kind === 'document') {
      const snapshot = snapshotFromSource(loaded.source);
      const state = importDocument(loaded.source.value as Record<string, unknown>, now);
      if (seeded) store.save(1, state);
      return { state, version: 1, snapshot, seeded };
    }
    const state = loaded.kind === 'state' ? loaded.state : emptyState();
    const version = loaded.kind === 'state' ? loaded.version : 0;
    const built = snapshotOf(state, store.location);
    if ('issues' in built) throw new ConfigError(built.issues);
    return { state, version, snapshot: built.snapshot, seeded };
  }

  get state(): State {
    return this.current;
  }

  get version(): number {
    return this.ver;
  }

  nowSeconds(): number {
    return Math.floor(this.clock.nowMs() / 1000);
  }

  /**
   * Run one change: validate the whole new document, persist it (managed mode), swap the
   * generation, record the audit line. Resolves to the mutation's value, or a Refusal.
   */
  change<T>(caller: Caller, mutate: Mutation<T>, opts: { persist: boolean }): Promise<T | Refusal> {
    return this.enqueue(async () => {
      const before = this.ver;
      const m = mutate(this.current);
      if (m instanceof Refusal) {
        this.audit(caller, '', before, before, 'refused');
        return m;
      }
      const entity = m.entity.split('/')[1] ?? null;
      const r = await this.pipeline.run({
        kind: 'state',
        state: m.state,
        source: opts.persist ? this.store.location : '<admin>',
        entity,
        save: this.saveTo(opts.persist, before + 1),
      });
      const done = await this.commit(caller, m.entity, r, m.state, opts.persist);
      return done instanceof Refusal ? done : m.value;
    });
  }

  /**
   * Replace the whole configuration with a document (POST /config): parsed, validated as given,
   * imported and persisted off the main thread, then swapped in as any change is.
   */
  replace(
    caller: Caller,
    doc: { text: string; yaml: boolean; file: string },
    opts: { persist: boolean },
  ): Promise<true | Refusal> {
    return this.enqueue(async () => {
      const r = await this.pipeline.run({
        kind: 'body',
        ...doc,
        nowSeconds: this.nowSeconds(),
        previous: this.current,
        save: this.saveTo(opts.persist, this.ver + 1),
      });
      const state = r.ok ? r.state : null;
      const done = await this.commit(caller, 'config', r, state ?? this.current, opts.persist);
      return done instanceof Refusal ? done : true;
    });
  }

  /** Re-read the store (SIGHUP): a file is re-imported, a state file re-read; refused when invalid. */
  reload(caller: Caller): Promise<ApplyResult> {
    return this.enqueue(async (): Promise<ApplyResult> => {
      const store = this.store;
      const text = store.documentText?.();
      const job: ConfigJob =
        text !== undefined
          ? {
              kind: 'body',
              text,
              yaml: false,
              file: store.location,
              nowSeconds: this.nowSeconds(),
              previous: this.current,
              save: null,
            }
          : store.kind === 'file'
            ? { kind: 'file', file: store.location, nowSeconds: this.nowSeconds(), previous: this.current }
            : { kind: 'state-file', file: store.location };
      const r = await this.pipeline.run(job);
      if (!r.ok) throw new ConfigError(r.issues);
      const before = this.ver;
      const applied = await this.apply(r.snapshot!);
      if (applied.ok) {
        this.current = r.state!;
        this.ver = r.version !== null ? Math.max(r.version, before + 1) : before + 1;
      }
      this.audit(caller, 'config', before, this.ver, applied.ok ? 'applied' : 'refused');
      return applied;
    });
  }

  /**
   * A version another node published (cluster mode): validated, kept in the store's cache file and
   * put in service here, in order. Versions this node has already applied are skipped; a version
   * this node cannot apply is logged and the configuration in service stays.
   */
  adopt(version: number, state: State): Promise<void> {
    return this.enqueue(async () => {
      if (version <= this.ver) return;
      const before = this.ver;
      const r = await this.pipeline.run({
        kind: 'state',
        state,
        source: this.store.location,
        entity: null,
        save: null,
      });
      const applied = r.ok ? await this.apply(r.snapshot!) : r;
      if (!applied.ok) {
        this.log.error(
          { version, issues: applied.issues.map((i) => `${i.path}: ${i.message}`) },
          'cluster: a configuration version cannot be applied on this node: serving the previous one',
        );
        return;
      }
      this.current = state;
      this.ver = version;
      // Kept only once in service: the cache file holds the last configuration known good here.
      this.store.save(version, state);
      this.log.info({ before, version }, 'cluster: configuration version applied');
    });
  }

  /** One change at a time, in arrival order, so two writers never build on the same base. */
  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private saveTo(persist: boolean, version: number): SaveTo | null {
    return persist ? { file: this.store.location, version } : null;
  }

  /** Put a validated (and persisted) state in service, or say why not; the audit line either way. */
  private async commit(
    caller: Caller,
    entity: string,
    r: ConfigJobResult,
    state: State,
    persist: boolean,
  ): Promise<Refusal | null> {
    const before = this.ver;
    if (!r.ok) {
      this.audit(caller, entity, before, before, 'refused');
      if (r.status === 413)
        return new Refusal(413, 'payload too large', r.issues.map((i) => i.message).join('; '));
      return schemaRefusal(r.issues, r.base);
    }
    if (persist && this.store.publish !== undefined) {
      // A cluster: the version goes to the store first (compare-and-set on `before`), so that two
      // nodes writing at once cannot both win; every node, this one included, then applies it.
      try {
        await this.store.publish(before, before + 1, state);
      } catch (err) {
        await this.pipeline.run({ kind: 'save', state: this.current, save: this.saveTo(true, before)! });
        this.audit(caller, entity, before, before, 'refused');
        const status = (err as { status?: number }).status ?? 503;
        return new Refusal(
          status,
          status === 409 ? 'conflict' : 'cluster store unavailable',
          (err as Error).message,
        );
      }
    }
    const applied = await this.apply(r.snapshot!);
    if (!applied.ok) {
      if (persist)
        await this.pipeline.run({ kind: 'save', state: this.current, save: this.saveTo(true, before)! });
      this.audit(caller, entity, before, before, 'refused');
      return new Refusal(400, 'apply failed', applied.issues.map((i) => i.message).join('; '));
    }
    this.current = state;
    this.ver = before + 1;
    this.audit(caller, entity, before, this.ver, 'applied');
    return null;
  }

  private audit(caller: Caller, entity: string, before: number, after: number, result: AuditEntry['result']) {
    const entry: AuditEntry = {
      time: new Date(this.clock.nowMs()).toISOString(),
      who: caller.who,
      token: caller.token,
      method: caller.method,
      path: caller.path,
      entity,
      before,
      after,
      result,
    };
    this.audits.push(entry);
    if (this.audits.length > AUDIT_KEEP) this.audits.splice(0, this.audits.length - AUDIT_KEEP);
    this.log.info({ audit: entry }, `admin change ${result}: ${caller.method} ${caller.path}`);
  }
}
