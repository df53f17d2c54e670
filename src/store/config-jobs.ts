/**
 * The control plane's heavy, pure work, as jobs on plain data: read and parse a source, validate
 * and normalize it into a snapshot, convert between the declarative document and the admin's
 * entity state, persist a state file. A job's input and result are plain data (structured-clone
 * safe), so the same function runs in the config worker (src/runtime/config-worker.ts: off the
 * main thread, docs/architecture.md) or in-process.
 */
import { parseBoundedJson } from '../config/json-scan.ts';
import { MAX_CONFIG_NESTING_DEPTH } from '../config/limits.ts';
import {
  breachIssue,
  ConfigError,
  type ConfigIssue,
  type ParsedSource,
  type PathPart,
  parseSource,
  readSource,
  valueSource,
} from '../config/load.ts';
import type { Snapshot } from '../config/types.ts';
import { snapshotFromSource } from '../config/validate.ts';
import { emptyState, exportDocument, importDocument, type State } from './document.ts';
import { ManagedStore } from './managed-store.ts';

/** Where and as which version a state is persisted (managed mode). */
export interface SaveTo {
  readonly file: string;
  readonly version: number;
}

export type ConfigJob =
  /** A declarative file: its snapshot and its entities (created_at kept from `previous`). */
  | {
      readonly kind: 'file';
      readonly file: string;
      readonly nowSeconds: number;
      readonly previous: State | null;
    }
  /** A managed state file: its entities, version and snapshot. */
  | { readonly kind: 'state-file'; readonly file: string }
  /** POST /config: a document validated as given, then imported, snapshotted, saved if asked. */
  | {
      readonly kind: 'body';
      readonly text: string;
      readonly yaml: boolean;
      readonly file: string;
      readonly nowSeconds: number;
      readonly previous: State | null;
      readonly save: SaveTo | null;
    }
  /** An entity change: the snapshot of the new state (saved if asked); `entity` names its errors. */
  | {
      readonly kind: 'state';
      readonly state: State;
      readonly source: string;
      readonly entity: string | null;
      readonly save: SaveTo | null;
    }
  /** Persist a state as it is (putting back the previous one after a failed apply). */
  | { readonly kind: 'save'; readonly state: State; readonly save: SaveTo };

export type ConfigJobResult =
  | {
      readonly ok: true;
      readonly snapshot: Snapshot | null;
      readonly state: State | null;
      readonly version: number | null;
    }
  | {
      readonly ok: false;
      /** 400 for a configuration refused, 413 for a state too large to persist. */
      readonly status: number;
      readonly issues: readonly ConfigIssue[];
      /** Where the changed entity sits in the exported document (errors are named relative to it). */
      readonly base: readonly PathPart[] | null;
    };

/** Runs config jobs somewhere (a worker thread, or in-process). */
export interface ConfigPipeline {
  run(job: ConfigJob): Promise<ConfigJobResult>;
  close(): Promise<void>;
}

/**
 * The snapshot of a state, through the same validator and normalizer as the file, the exported
 * document checked directly as a value (its issues name paths; there is no text whose lines they
 * could name). The normalizer reads Kong's view of it (kong-compat.ts), a fresh tree, so freezing
 * the snapshot never freezes the state's entities.
 */
export function snapshotOf(state: State, source: string): { snapshot: Snapshot } | { issues: ConfigIssue[] } {
  const { doc } = exportDocument(state);
  try {
    return { snapshot: snapshotFromSource(valueSource(doc, source)) };
  } catch (err) {
    if (err instanceof ConfigError) return { issues: [...err.issues] };
    throw err;
  }
}

const ok = (snapshot: Snapshot | null, state: State | null, version: number | null): ConfigJobResult => ({
  ok: true,
  snapshot,
  state,
  version,
});

const refused = (
  issues: readonly ConfigIssue[],
  status = 400,
  base: readonly PathPart[] | null = null,
): ConfigJobResult => ({ ok: false, status, issues, base });

function save(to: SaveTo, state: State): ConfigJobResult | null {
  try {
    new ManagedStore(to.file).save(to.version, state);
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return refused(err.issues, 413);
    throw err;
  }
}

/** A request body as a parsed source: YAML with positions, or bounded strict JSON with paths. */
function bodySource(text: string, yaml: boolean, file: string): ParsedSource {
  if (yaml) return parseSource(text, file);
  const r = parseBoundedJson(text, MAX_CONFIG_NESTING_DEPTH);
  if ('breach' in r) {
    const where = r.breach.offset >= 0 ? ` (at offset ${r.breach.offset})` : '';
    throw new ConfigError([breachIssue(text, file, { ...r.breach, message: r.breach.message + where })]);
  }
  return valueSource(r.value, file);
}

function stateJob(state: State, source: string, entity: string | null, to: SaveTo | null): ConfigJobResult {
  const built = snapshotOf(state, source);
  if ('issues' in built)
    return refused(
      built.issues,
      400,
      entity === null ? null : (exportDocument(state).at.get(entity) ?? null),
    );
  if (to !== null) {
    const failed = save(to, state);
    if (failed !== null) return failed;
  }
  return ok(built.snapshot, null, null);
}

/** Run one job; a refused configuration is a result, never an exception. */
export function runConfigJob(job: ConfigJob): ConfigJobResult {
  try {
    switch (job.kind) {
      case 'file': {
        const src = readSource(job.file);
        const snapshot = snapshotFromSource(src);
        const state = importDocument(
          src.value as Record<string, unknown>,
          job.nowSeconds,
          job.previous ?? undefined,
        );
        return ok(snapshot, state, null);
      }
      case 'state-file': {
        const loaded = new ManagedStore(job.file).load();
        const state = loaded.kind === 'state' ? loaded.state : emptyState();
        const built = snapshotOf(state, job.file);
        if ('issues' in built) return refused(built.issues);
        return ok(built.snapshot, state, loaded.kind === 'state' ? loaded.version : 0);
      }
      case 'body': {
        const src = bodySource(job.text, job.yaml, job.file);
        // Validated as given first, so errors name the document's own paths (and lines, for YAML).
        snapshotFromSource(src);
        const state = importDocument(
          src.value as Record<string, unknown>,
          job.nowSeconds,
          job.previous ?? undefined,
        );
        const r = stateJob(state, job.file, null, job.save);
        return r.ok ? ok(r.snapshot, state, null) : r;
      }
      case 'state':
        return stateJob(job.state, job.source, job.entity, job.save);
      case 'save':
        return save(job.save, job.state) ?? ok(null, null, null);
    }
  } catch (err) {
    if (err instanceof ConfigError) return refused(err.issues);
    throw err;
  }
}

/** The jobs run in-process: for embedding and tests, and where blocking does not matter. */
export const inlinePipeline: ConfigPipeline = {
  run: async (job) => runConfigJob(job),
  close: async () => {},
};
