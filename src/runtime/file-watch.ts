/**
 * `fulcrum start --watch`: reload when the declarative file changes, as SIGHUP does. The directory
 * is watched rather than the file, because editors and config managers replace a file by renaming
 * a new one over it (a watch on the old inode would go quiet); events are debounced, since one save
 * is often several writes, and a reload whose content did not change is skipped.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { MAX_CONFIG_DOCUMENT_BYTES } from '../config/limits.ts';

export const WATCH_DEBOUNCE_MS = 150;

export class FileWatch {
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | null = null;
  private lastHash: string;
  private readonly file: string;
  private readonly onChange: () => void;

  constructor(file: string, onChange: () => void) {
    this.file = file;
    this.onChange = onChange;
    this.lastHash = this.hash();
    const name = basename(file);
    this.watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.check(), WATCH_DEBOUNCE_MS);
      this.timer.unref();
    });
    this.watcher.on('error', () => {});
  }

  private hash(): string {
    try {
      // A file over the limit is not read (the reload refuses it from its size): its size and
      // modification time stand for its content.
      const st = statSync(this.file);
      if (st.size > MAX_CONFIG_DOCUMENT_BYTES) return `${st.size}@${st.mtimeMs}`;
      return createHash('sha256').update(readFileSync(this.file)).digest('hex');
    } catch {
      return '';
    }
  }

  private check(): void {
    this.timer = null;
    const h = this.hash();
    // Mid-replacement (the file briefly absent) or unchanged: nothing to do.
    if (h === '' || h === this.lastHash) return;
    this.lastHash = h;
    this.onChange();
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.watcher.close();
  }
}
