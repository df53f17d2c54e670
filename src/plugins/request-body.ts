/**
 * The request body buffered for the access phase (key-auth's `key_in_body`, request-transformer's
 * body rules), bounded by a limit. Kong reads the body through nginx's client body buffer; here it
 * waits in the body's channel (src/proxy/body-channel.ts) up to the limit, and the exchange then
 * sends the buffered (possibly replaced) body to the target. A body larger than the limit is not
 * buffered whole: what was read stays queued as a prefix, the client is no longer read, and the
 * exchange forwards the prefix then the rest as a stream, untouched (a plugin sees "no body").
 */
import { Buffer } from 'node:buffer';
import type { BodyChannel } from '../proxy/body-channel.ts';

export type BodyState = 'reading' | 'complete' | 'over' | 'failed';

export class BufferedBody {
  state: BodyState = 'reading';
  /** The body a plugin put in place of the client's (complete only), or null. */
  replaced: Buffer | null = null;
  /** Settles (never rejects) once the state is no longer `reading`. */
  readonly done: Promise<void>;
  private readonly channel: BodyChannel;
  private whole: Buffer | null = null;

  /**
   * Buffer the channel's body up to `limit` bytes: the channel keeps what arrives queued (the
   * tries read it from there afterwards, or the rest streams after this prefix when it is larger).
   */
  constructor(channel: BodyChannel, limit: number) {
    this.channel = channel;
    if (channel.length > limit) {
      this.state = 'over';
      this.done = Promise.resolve();
      return;
    }
    this.done = new Promise<void>((resolve) => {
      const check = () => {
        if (this.state !== 'reading') return;
        if (channel.failed !== null) this.state = 'failed';
        else if (channel.complete) this.state = 'complete';
        else if (channel.queuedBytes > limit) this.state = 'over';
        else return;
        channel.onProgress = null;
        resolve();
      };
      channel.onProgress = check;
      channel.bufferUpTo(limit);
      check();
    });
  }

  /** The whole body as the plugins left it (complete only). */
  body(): Buffer {
    if (this.replaced !== null) return this.replaced;
    if (this.whole === null) {
      const chunks = this.channel.queuedChunks();
      this.whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[]);
    }
    return this.whole;
  }
}

/** The media type of a Content-Type, lower case, without parameters ('' when none). */
export function mediaType(ct: string | string[] | undefined): string {
  if (typeof ct !== 'string') return '';
  const i = ct.indexOf(';');
  return (i < 0 ? ct : ct.slice(0, i)).trim().toLowerCase();
}
