/**
 * file_sd: an upstream's targets from a directory of files in Prometheus' file-based discovery
 * format, each a JSON or YAML list of `{ targets: ["host:port", ...], labels: { ... } }`. Labels
 * `weight`, `priority`, `zone` and `tags` (comma separated) become those target fields; others are
 * ignored. As Prometheus does: the directory is watched and also re-read every `refresh_interval`;
 * a file that cannot be read or parsed is refused alone and logged, and the targets it gave last
 * time keep serving (a file removed or renamed away takes its targets with it).
 */
import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { FileSdSpec } from '../config/discovery.ts';
import { MAX_CONFIG_ALIAS_COUNT } from '../config/limits.ts';
import { DEFAULT_TARGET_PORT } from '../config/normalize.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { formatHostPort, parseHostPort } from '../core/net.ts';
import { SerialReader } from './reader.ts';

/** Events are gathered this long before the directory is re-read (one save is often several writes). */
export const FILE_SD_DEBOUNCE_MS = 100;
/** A file larger than this is refused (a target list this big belongs in a registry). */
export const FILE_SD_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Most targets one directory may give. */
export const FILE_SD_MAX_TARGETS = 10_000;

const FILE_RE = /\.(json|ya?ml)$/;

/** A target a source lists (a file_sd file, a registration): null fields take the target defaults. */
export interface ListedTarget {
  readonly target: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number | null;
  readonly priority: number | null;
  readonly zone: string | null;
  readonly tags: readonly string[];
  /** When the source last read or wrote it (wall-clock ms). */
  readonly lastSeenMs: number;
}

export interface FileSdTarget extends ListedTarget {
  /** The file it came from. */
  readonly file: string;
}

/** The targets of one file's text, or why the file is refused. */
export function parseFileSd(
  text: string,
  file: string,
  seenMs: number,
): { targets: FileSdTarget[] } | { error: string } {
  let doc: unknown;
  try {
    doc = file.endsWith('.json')
      ? JSON.parse(text)
      : parseYaml(text, { maxAliasCount: MAX_CONFIG_ALIAS_COUNT });
  } catch (err) {
    return { error: `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}` };
  }
  if (doc === null || doc === undefined) return { targets: [] };
  if (!Array.isArray(doc)) return { error: 'expected a list of {targets, labels} groups' };
  const out: FileSdTarget[] = [];
  for (let i = 0; i < doc.length; i++) {
    const g = doc[i] as Record<string, unknown> | null;
    const at = `[${i}]`;
    if (g === null || typeof g !== 'object' || Array.isArray(g))
      return { error: `${at}: expected an object` };
    if (!Array.isArray(g.targets)) return { error: `${at}.targets: expected a list of "host:port"` };
    const labels = (g.labels ?? {}) as Record<string, unknown>;
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels))
      return { error: `${at}.labels: expected an object of strings` };
    const fields = labelFields(labels);
    if ('error' in fields) return { error: `${at}.labels.${fields.error}` };
    for (let j = 0; j < g.targets.length; j++) {
      const raw = g.targets[j];
      const hp = typeof raw === 'string' ? parseHostPort(raw, DEFAULT_TARGET_PORT) : null;
      if (hp === null)
        return {
          error: `${at}.targets[${j}]: expected host:port (hostname or IP, port 1-65535), got ${JSON.stringify(raw)}`,
        };
      out.push({
        target: formatHostPort(hp.host, hp.port),
        host: hp.host,
        port: hp.port,
        ...fields,
        file,
        lastSeenMs: seenMs,
      });
    }
  }
  return { targets: out };
}

type LabelFields = Pick<FileSdTarget, 'weight' | 'priority' | 'zone' | 'tags'>;

function labelFields(labels: Record<string, unknown>): LabelFields | { error: string } {
  for (const [k, v] of Object.entries(labels))
    if (typeof v !== 'string') return { error: `${k}: expected a string (Prometheus labels are strings)` };
  const l = labels as Record<string, string>;
  const int = (name: string, max: number): number | null | { error: string } => {
    const v = l[name];
    if (v === undefined) return null;
    return /^\d+$/.test(v) && Number(v) <= max
      ? Number(v)
      : { error: `${name}: expected an integer from 0 to ${max}, got ${JSON.stringify(v)}` };
  };
  const weight = int('weight', 65535);
  if (weight !== null && typeof weight === 'object') return weight;
  const priority = int('priority', 255);
  if (priority !== null && typeof priority === 'object') return priority;
  const tags =
    l.tags === undefined
      ? []
      : l.tags
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '');
  return { weight, priority, zone: l.zone ?? null, tags };
}

export interface FileSdDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly onChange: () => void;
}

/** One upstream's file_sd directory, watched. */
export class FileSdWatch {
  readonly spec: FileSdSpec;
  private readonly deps: FileSdDeps;
  /** Per file: its last good targets (a refused file keeps them). */
  private readonly files = new Map<string, { targets: readonly FileSdTarget[]; error: string | null }>();
  private watcher: FSWatcher | null = null;
  private debounce: TimerHandle | null = null;
  private refreshTimer: TimerHandle | null = null;
  private closed = false;
  private current: readonly FileSdTarget[] = [];
  private readonly reader = new SerialReader(
    () => this.readAll(),
    () => this.closed,
  );

  constructor(spec: FileSdSpec, deps: FileSdDeps) {
    this.spec = spec;
    this.deps = deps;
    try {
      this.watcher = watch(spec.directory, { persistent: false }, (_e, name) => {
        if (name !== null && !FILE_RE.test(String(name))) return;
        this.schedule(FILE_SD_DEBOUNCE_MS);
      });
      this.watcher.on('error', () => {});
    } catch (err) {
      deps.log.warn(
        { directory: spec.directory },
        `file_sd: cannot watch ${spec.directory} (${(err as Error).message}); re-read every refresh_interval`,
      );
    }
    void this.reader.read();
  }

  /** Every file's targets, in file name order; the first of a duplicate `host:port` wins. */
  targets(): readonly FileSdTarget[] {
    return this.current;
  }

  /** Per file, the reason it is refused (for status). */
  errors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [f, s] of this.files) if (s.error !== null) out[f] = s.error;
    return out;
  }

  /** Settles after the first read. */
  ready(): Promise<void> {
    return this.reader.ready();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.debounce !== null) this.deps.clock.clearTimer(this.debounce);
    if (this.refreshTimer !== null) this.deps.clock.clearTimer(this.refreshTimer);
  }

  private schedule(ms: number): void {
    if (this.closed || this.debounce !== null) return;
    this.debounce = this.deps.clock.setTimer(ms, onDebounce, this);
  }

  /** For the debounce timer (`refresh`: the refresh_interval timer). */
  fire(refresh: boolean): void {
    if (refresh) this.refreshTimer = null;
    else this.debounce = null;
    void this.reader.read();
  }

  private async readAll(): Promise<void> {
    const dir = this.spec.directory;
    const log = this.deps.log;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => FILE_RE.test(n)).sort();
    } catch (err) {
      // The directory itself is gone or unreadable: keep what it gave (a mount blip is not an empty list).
      log.warn(
        { directory: dir },
        `file_sd: cannot list ${dir} (${(err as Error).message}); its targets keep serving`,
      );
      names = [...this.files.keys()];
    }
    const seen = new Set(names);
    for (const f of this.files.keys()) if (!seen.has(f)) this.files.delete(f);
    for (const name of names) {
      const file = join(dir, name);
      const prev = this.files.get(name);
      let r: { targets: FileSdTarget[] } | { error: string };
      try {
        const st = await stat(file);
        r =
          st.size > FILE_SD_MAX_FILE_BYTES
            ? { error: `larger than ${FILE_SD_MAX_FILE_BYTES} bytes` }
            : parseFileSd(await readFile(file, 'utf8'), file, this.deps.clock.nowMs());
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          this.files.delete(name); // renamed away between the listing and the read
          continue;
        }
        r = { error: (err as Error).message };
      }
      if ('error' in r) {
        if (prev?.error !== r.error)
          log.error(
            { file, directory: dir },
            `file_sd: ${file} refused: ${r.error}; ${prev && prev.targets.length > 0 ? 'its previous targets keep serving' : 'it gives no target'}`,
          );
        this.files.set(name, { targets: prev?.targets ?? [], error: r.error });
      } else {
        if (prev?.error) log.info({ file }, `file_sd: ${file} accepted again`);
        this.files.set(name, { targets: r.targets, error: null });
      }
    }
    this.publish();
    if (this.refreshTimer !== null) this.deps.clock.clearTimer(this.refreshTimer);
    if (!this.closed && this.spec.refreshMs > 0)
      this.refreshTimer = this.deps.clock.setTimer(this.spec.refreshMs, onRefresh, this);
  }

  private publish(): void {
    const out: FileSdTarget[] = [];
    const seen = new Set<string>();
    for (const s of this.files.values())
      for (const t of s.targets) {
        if (seen.has(t.target) || out.length >= FILE_SD_MAX_TARGETS) continue;
        seen.add(t.target);
        out.push(t);
      }
    const key = (l: readonly FileSdTarget[]) =>
      JSON.stringify(l.map((t) => [t.target, t.weight, t.priority, t.zone, t.tags]));
    const changed = key(out) !== key(this.current);
    this.current = out;
    if (changed && !this.closed) this.deps.onChange();
  }
}

function onDebounce(w: FileSdWatch): void {
  w.fire(false);
}

function onRefresh(w: FileSdWatch): void {
  w.fire(true);
}
