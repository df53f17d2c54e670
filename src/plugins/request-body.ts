/**
 * The request body buffered for the access phase (key-auth's `key_in_body`, request-transformer's
 * body rules), bounded by a limit. Kong reads the body through nginx's client body buffer; here it
 * is read from the client into memory up to the limit, and the exchange then sends the buffered
 * (possibly replaced) body to the target. A body larger than the limit is not buffered whole: what
 * was read is kept as a prefix, the client stream is paused, and the exchange forwards the prefix
 * then the rest as a stream, untouched (a plugin sees "no body").
 */
import type { IncomingMessage } from 'node:http';

export type BodyState = 'reading' | 'complete' | 'over' | 'failed';

export class BufferedBody {
  state: BodyState = 'reading';
  /** What was read: the whole body (complete) or the prefix before the limit was passed (over). */
  readonly chunks: Buffer[] = [];
  bytes = 0;
  /** The body a plugin put in place of the client's (complete only), or null. */
  replaced: Buffer | null = null;
  /** Settles (never rejects) once the state is no longer `reading`. */
  readonly done: Promise<void>;
  private whole: Buffer | null = null;

  /** A body a plugin made for a request that had none (request-transformer adding fields). */
  static of(body: Buffer): BufferedBody {
    const b = new BufferedBody(null, 0);
    b.replaced = body;
    return b;
  }

  constructor(req: IncomingMessage | null, limit: number) {
    if (req === null) {
      this.state = 'complete';
      this.done = Promise.resolve();
      return;
    }
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > limit) {
      this.state = 'over';
      this.done = Promise.resolve();
      return;
    }
    this.done = new Promise<void>((resolve) => {
      const settle = (s: BodyState) => {
        if (this.state !== 'reading') return;
        this.state = s;
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onFail);
        req.off('close', onClose);
        resolve();
      };
      const onData = (c: Buffer) => {
        this.chunks.push(c);
        this.bytes += c.length;
        if (this.bytes > limit) {
          // Stop reading: the exchange streams the rest after this prefix (req.pipe resumes it).
          req.pause();
          settle('over');
        }
      };
      const onEnd = () => settle('complete');
      const onFail = () => settle('failed');
      const onClose = () => settle(req.complete ? 'complete' : 'failed');
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onFail);
      req.on('close', onClose);
    });
  }

  /** The whole body as the plugins left it (complete only). */
  body(): Buffer {
    if (this.replaced !== null) return this.replaced;
    this.whole ??= this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    return this.whole;
  }
}

/** Whether a request carries a body (Content-Length other than 0, chunked, or an HTTP/2 DATA stream). */
export function requestHasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  if (cl !== undefined) return cl !== '0';
  if (req.httpVersionMajor !== 2) return false;
  return (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false;
}

/** The media type of a Content-Type, lower case, without parameters ('' when none). */
export function mediaType(ct: string | string[] | undefined): string {
  if (typeof ct !== 'string') return '';
  const i = ct.indexOf(';');
  return (i < 0 ? ct : ct.slice(0, i)).trim().toLowerCase();
}
