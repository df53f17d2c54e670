/**
 * undici has two handler interfaces: the callbacks its own `request`, `stream` and `fetch` use
 * (onConnect, onHeaders, onData, onComplete, onError) and the controller interface of newer
 * interceptors (onRequestStart, onResponseStart, ...). The client's exchange speaks the first, as
 * undici's Pool does; a handler of the second kind is adapted here, as undici's own dispatchers
 * adapt it internally (its adapter is not public API).
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { type Dispatcher, util } from 'undici';

/** The controller handed to a controller-style handler, driving one request. */
class Controller implements Dispatcher.DispatchController {
  private readonly abortRequest: (reason?: Error) => void;
  private isPaused = false;
  private isAborted = false;
  private why: Error | null = null;
  resumeRequest: (() => void) | null = null;

  constructor(abort: (reason?: Error) => void) {
    this.abortRequest = abort;
  }
  get aborted(): boolean {
    return this.isAborted;
  }
  get paused(): boolean {
    return this.isPaused;
  }
  get reason(): Error | null {
    return this.why;
  }
  abort(reason: Error): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.why = reason;
    this.abortRequest(reason);
  }
  pause(): void {
    this.isPaused = true;
  }
  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.resumeRequest?.();
  }
}

const headerObject = (raw: Buffer[] | string[] | null) =>
  util.parseHeaders((raw ?? []) as Buffer[]) as Record<string, string | string[]>;

class ControllerAdapter implements Dispatcher.DispatchHandler {
  private readonly h: Dispatcher.DispatchHandler;
  private controller = new Controller(() => {});

  constructor(h: Dispatcher.DispatchHandler) {
    this.h = h;
  }
  onConnect(abort: (err?: Error) => void): void {
    this.controller = new Controller(abort);
    this.h.onRequestStart?.(this.controller, undefined);
  }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.h.onRequestUpgrade?.(this.controller, statusCode, headerObject(headers), socket);
  }
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    this.controller.resumeRequest = resume;
    this.h.onResponseStart?.(this.controller, statusCode, headerObject(raw), statusText);
    return !this.controller.paused;
  }
  onData(chunk: Buffer): boolean {
    this.h.onResponseData?.(this.controller, chunk);
    return !this.controller.paused;
  }
  onComplete(trailers: string[] | null): void {
    this.h.onResponseEnd?.(this.controller, headerObject(trailers));
  }
  onError(err: Error): void {
    this.h.onResponseError?.(this.controller, err);
  }
}

/** The handler as the legacy interface (itself when it already is one). */
export function asLegacyHandler(h: Dispatcher.DispatchHandler): Dispatcher.DispatchHandler {
  return h.onRequestStart === undefined ? h : new ControllerAdapter(h);
}
