/**
 * A Downstream (src/proxy/downstream.ts) without a socket, for unit tests of the exchange, the tries
 * and the plugins: the request is given, the response is recorded.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Fields, StringFields } from '../../src/http1/fields.ts';
import { BodyChannel } from '../../src/proxy/body-channel.ts';
import type { Downstream, DownstreamEvents, OutHead } from '../../src/proxy/downstream.ts';

export interface FakeRequest {
  method?: string;
  target?: string;
  headers?: Record<string, string>;
  /** A body channel (declared length, -1 when unknown): push to it from the test. */
  body?: { length: number } | null;
}

export class FakeDownstream implements Downstream {
  readonly h2 = false;
  readonly socket = { localPort: 8000, encrypted: false } as unknown as Socket;
  readonly clientIp = '127.0.0.1';
  readonly localPort = 8000;
  readonly method: string;
  readonly target: string;
  readonly minor = 1;
  readonly fields: Fields;
  readonly host: string;
  readonly expectContinue = false;
  readonly body: BodyChannel | null;
  readonly connectionNamed = null;
  readonly forwardCache = null;
  readonly upgrade = null;
  closeAfter = false;
  headersSent = false;
  finished = false;
  events: DownstreamEvents | null = null;
  /** What was written: the head, the body chunks, whether it ended or was cut. */
  head: OutHead | null = null;
  readonly chunks: Buffer[] = [];
  ended = false;
  aborted = false;
  /** What write() answers (false: the client is full). */
  writable = true;

  constructor(r: FakeRequest = {}) {
    this.method = r.method ?? 'GET';
    this.target = r.target ?? '/';
    const flat: string[] = [];
    const headers = { host: 'test.local', ...(r.headers ?? {}) };
    for (const [k, v] of Object.entries(headers)) flat.push(k, v);
    this.fields = new StringFields(flat);
    this.host = headers.host;
    this.body = r.body ? new BodyChannel(r.body.length, false, 0, 0) : null;
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  sendContinue(): void {}
  flush(): void {}
  sendInformational(): void {}
  writeHead(head: OutHead): void {
    this.head = head;
    this.headersSent = true;
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return this.writable;
  }
  end(): void {
    this.ended = true;
    this.finished = true;
  }
  abort(): void {
    this.aborted = true;
  }
  tunnel(): { readonly duplex: Duplex; readonly head: Buffer } {
    throw new Error('no tunnel in a fake downstream');
  }
}
