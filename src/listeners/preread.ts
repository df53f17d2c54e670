/**
 * What an L4 listener reads from a connection before routing it: a PROXY protocol header (when the
 * listener accepts one) and then, on tls_passthrough listeners, the TLS ClientHello. Bounded in
 * bytes (each parser's own maximum) and in time (the node's `timeouts.client_header_ms`, the same
 * allowance an HTTP client gets for its request head). Once done the socket is paused again and
 * everything read past the PROXY header is handed on, to be sent to the target first.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts';
import { type ProxyHeader, parseProxyHeader, V2_MAX_BYTES } from './proxy-protocol.ts';

export interface PrereadResult {
  readonly proxy: ProxyHeader | null;
  readonly sni: string | null;
  /** Bytes read that belong to the client's stream (the ClientHello, and anything after it). */
  readonly head: Buffer;
}

export interface PrereadOptions {
  readonly proxy: boolean;
  readonly hello: boolean;
  readonly timeoutMs: number;
}

/** Calls `done` exactly once: with the result, or with why the connection must be refused. */
export function preread(
  s: Socket,
  opts: PrereadOptions,
  done: (err: string | null, r: PrereadResult | null) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  let proxy: ProxyHeader | null = null;
  let needProxy = opts.proxy;
  let finished = false;
  const finish = (why: string | null, r: PrereadResult | null) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    s.off('data', onData);
    s.off('end', onEnd);
    s.off('close', onEnd);
    s.pause();
    done(why, r);
  };
  const onEnd = () => finish('the client closed the connection before it was routed', null);
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (needProxy) {
      const r = parseProxyHeader(buf);
      if (r.kind === 'error') return finish(`bad PROXY protocol header: ${r.reason}`, null);
      if (r.kind === 'need-more') {
        if (buf.length > V2_MAX_BYTES) return finish('PROXY protocol header too large', null);
        return;
      }
      proxy = r.header;
      needProxy = false;
      buf = buf.subarray(r.length);
    }
    if (!opts.hello) return finish(null, { proxy, sni: null, head: buf });
    if (buf.length === 0) return;
    const h = parseClientHello(buf);
    if (h.kind === 'error') return finish(`bad TLS ClientHello: ${h.reason}`, null);
    if (h.kind === 'need-more') {
      if (buf.length > MAX_CLIENT_HELLO_BYTES + 64) return finish('TLS ClientHello too large', null);
      return;
    }
    finish(null, { proxy, sni: h.sni, head: buf });
  };
  const timer = setTimeout(
    () =>
      finish(
        `no ${needProxy ? 'PROXY protocol header' : 'TLS ClientHello'} within ${opts.timeoutMs} ms`,
        null,
      ),
    opts.timeoutMs,
  );
  timer.unref();
  s.on('data', onData);
  s.on('end', onEnd);
  s.on('close', onEnd);
  s.resume();
}
