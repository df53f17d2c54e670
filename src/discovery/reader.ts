/**
 * What the discovery sources that read a whole list (file_sd directories, the Redis registry)
 * share: reads run one at a time, a read asked for during another runs once more after it (so
 * the last change is never missed and a burst of changes costs two reads, not N), and the first
 * read settles `ready()`.
 */
export class SerialReader {
  private readonly readAll: () => Promise<void>;
  private readonly closed: () => boolean;
  private reading: Promise<void> | null = null;
  private again = false;
  private readonly first: Promise<void>;
  private firstDone: () => void = () => {};

  constructor(readAll: () => Promise<void>, closed: () => boolean) {
    this.readAll = readAll;
    this.closed = closed;
    this.first = new Promise((r) => {
      this.firstDone = r;
    });
  }

  /** Read now, or once more after the read in progress. */
  read(): Promise<void> {
    if (this.reading !== null) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.readAll().finally(() => {
      this.reading = null;
      this.firstDone();
      if (this.again && !this.closed()) {
        this.again = false;
        void this.read();
      }
    });
    return this.reading;
  }

  /** Settles after the first read (or `settle()`). */
  ready(): Promise<void> {
    return this.first;
  }

  /** Settle `ready()` without a read (a source that cannot read at all). */
  settle(): void {
    this.firstDone();
  }
}
