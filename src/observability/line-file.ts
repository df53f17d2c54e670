/**
 * A buffered, append-only log file, written by hand because the hot path needs it cheap:
 * sonic-boom (pino's destination) cost 16 µs per line in its buffered synchronous mode and
 * 9.5 µs asynchronously on this machine class, a third of the proxy's throughput. Here a line is
 * pushed onto an array; every 64 KiB, and at least every second, the lines are joined and written
 * with one write(2), as nginx's `access_log … buffer=64k flush=1s` does.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const LINE_FILE_BUFFER_CHARS = 65536;
export const LINE_FILE_FLUSH_MS = 1000;

export class LineFile {
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private parts: string[] = [];
  private size = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly limit: number;

  /**
   * `target`: a file path (created, appended to) or a file descriptor (1, 2). `limit`: how many
   * characters gather before a write (0: write every line at once).
   */
  constructor(target: string | number, limit = LINE_FILE_BUFFER_CHARS) {
    this.limit = limit;
    if (typeof target === 'number') {
      this.fd = target;
      this.ownsFd = false;
    } else {
      mkdirSync(dirname(target), { recursive: true });
      this.fd = openSync(target, 'a');
      this.ownsFd = true;
    }
    this.timer = setInterval(() => this.flush(), LINE_FILE_FLUSH_MS);
    this.timer.unref();
  }

  /** Whether this writes a file it opened (one that SIGUSR1 may reopen), not fd 1 or 2. */
  get reopenable(): boolean {
    return this.ownsFd;
  }

  write(line: string): void {
    this.parts.push(line);
    this.size += line.length;
    if (this.size >= this.limit) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    try {
      writeSync(this.fd, text);
    } catch {
      // A full disk or a closed pipe must not take the proxy down; the lines are lost.
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
    if (this.ownsFd) closeSync(this.fd);
  }
}
