/**
 * Managed mode: the admin API's entities persisted to one local JSON state file.
 *
 * A write never leaves a torn file behind: the new content goes to a temporary file in the same
 * directory, is fsynced, renamed over the state file (atomic on POSIX file systems), and the
 * directory is fsynced so the rename itself survives a power cut. A crash at any point leaves
 * either the previous state or the new one; a stray temporary file is ignored on the next start.
 * A state file that exists but cannot be read or parsed refuses the start: silently starting empty
 * would throw the configuration away.
 */
import { Buffer } from 'node:buffer';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { scanJson } from '../config/json-scan.ts';
import {
  MAX_CONFIG_DOCUMENT_BYTES,
  MAX_CONFIG_NESTING_DEPTH,
  readBoundedFile,
  tooLargeMessage,
} from '../config/limits.ts';
import { breachIssue, ConfigError } from '../config/load.ts';
import { KINDS, type State } from './document.ts';
import type { ConfigStore, Loaded } from './store.ts';

/** Marks the file as ours, and its layout version. */
export const STATE_FORMAT = 'fulcrum-state/1';

/** fsync a directory so a rename in it is durable; platforms that cannot (Windows) skip it. */
function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch (err) {
    if (process.platform === 'win32') return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL') throw err;
  } finally {
    closeSync(fd);
  }
}

export class ManagedStore implements ConfigStore {
  readonly kind = 'managed' as const;
  readonly writable = true;
  readonly location: string;

  constructor(file: string) {
    this.location = file;
  }

  load(): Loaded {
    let read: ReturnType<typeof readBoundedFile>;
    try {
      read = readBoundedFile(this.location, MAX_CONFIG_DOCUMENT_BYTES);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'empty' };
      throw this.refuse(`cannot read: ${(err as Error).message}`);
    }
    if ('breach' in read) throw this.refuse(read.breach.message);
    const text = read.text;
    const breach = scanJson(text, MAX_CONFIG_NESTING_DEPTH);
    if (breach !== null) throw new ConfigError([breachIssue(text, this.location, breach)]);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw this.refuse(`not valid JSON: ${(err as Error).message}`);
    }
    if (raw === null || typeof raw !== 'object' || raw.format !== STATE_FORMAT)
      throw this.refuse(`not a Fulcrum state file (expected "format": "${STATE_FORMAT}")`);
    const state: Record<string, unknown> = { node: raw.node ?? {} };
    for (const k of KINDS) state[k] = Array.isArray(raw[k]) ? raw[k] : [];
    return { kind: 'state', version: Number(raw.version) || 0, state: state as unknown as State };
  }

  save(version: number, state: State): void {
    const body: Record<string, unknown> = { format: STATE_FORMAT, version, node: state.node };
    for (const k of KINDS) body[k] = state[k];
    const text = `${JSON.stringify(body, null, 2)}\n`;
    // Never write a state file that the next start would refuse to read.
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_CONFIG_DOCUMENT_BYTES)
      throw this.refuse(`the state would be ${tooLargeMessage(bytes).replace(/^the document is /, '')}`);
    const dir = dirname(this.location);
    const tmp = join(dir, `.${basename(this.location)}.${process.pid}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, this.location);
    syncDir(dir);
  }

  private refuse(message: string): ConfigError {
    return new ConfigError([{ file: this.location, line: 0, column: 0, path: '', message }]);
  }
}
