/**
 * One active probe of one target. HTTP(S) probes are here; the other kinds have a file each
 * (probe-tcp.ts, …) behind the same `startProbe`. The result (an Outcome, probe-kit.ts) is what the
 * health counters classify; `mismatch` is an answer that is not the expected one (a body that does
 * not match `http_body`, a reply without the expected bytes, a gRPC service not serving). A probe never reuses a connection (a pooled socket
 * would hide a target that stopped accepting) and can be aborted, so a stopping node leaves no
 * socket behind.
 */
import { Buffer } from 'node:buffer';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { ActiveCheckSpec } from '../config/healthchecks.ts';
import { linearRegExp } from '../core/linear-regex.ts';
import { startGrpcProbe } from './probe-grpc.ts';
import { type Outcome, PROBE_READ_LIMIT_BYTES, type ProbeControl, type ProbeTarget } from './probe-kit.ts';
import { startTcpProbe } from './probe-tcp.ts';
import { startUdpProbe } from './probe-udp.ts';

export type { Outcome } from './probe-kit.ts';

export interface RunningProbe {
  readonly result: Promise<Outcome>;
  abort(): void;
}

/** The Host header of an HTTP probe: `headers.host`, else the upstream's host_header, else host[:port]. */
export function probeHost(spec: ActiveCheckSpec, hostHeader: string | undefined, t: ProbeTarget): string {
  const h = spec.headers.host?.[0];
  if (h !== undefined) return h;
  if (hostHeader !== undefined) return hostHeader;
  const host = isIP(t.host) === 6 ? `[${t.host}]` : t.host;
  const dflt = spec.type === 'https' || spec.type === 'grpcs' ? 443 : 80;
  return t.port === dflt ? host : `${host}:${t.port}`;
}

/** A matcher of `http_body`: substring, or a regular expression after `~`. */
export function bodyMatcher(httpBody: string): (body: Buffer, complete: boolean) => boolean | undefined {
  if (httpBody.startsWith('~')) {
    const re = linearRegExp(httpBody.slice(1));
    // A regex is tried once, on all that was read: a partial body could match where the whole does not.
    return (body, complete) => (complete ? re.test(body.toString('utf8')) : undefined);
  }
  const want = Buffer.from(httpBody, 'utf8');
  return (body, complete) => (body.includes(want) ? true : complete ? false : undefined);
}

/**
 * Start a probe. `successStatus(s)` says whether a status is a success, for HTTP probes with
 * `http_body`: only those bodies are read (a failing status fails whatever its body says).
 */
export function startProbe(
  spec: ActiveCheckSpec,
  hostHeader: string | undefined,
  t: ProbeTarget,
  successStatus: (status: number) => boolean = () => true,
): RunningProbe {
  let settle: (o: Outcome) => void = () => {};
  const result = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });
  let done = false;
  const cleanups: (() => void)[] = [];
  const finish = (o: Outcome) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    for (const c of cleanups) c();
    settle(o);
  };
  const timer = setTimeout(() => finish('timeout'), spec.timeoutMs);
  timer.unref();
  const ctl: ProbeControl = { finish, onCleanup: (fn) => cleanups.push(fn) };
  if (spec.type === 'tcp') startTcpProbe(spec, t, ctl);
  else if (spec.type === 'udp') startUdpProbe(spec, t, ctl);
  else if (spec.type === 'grpc' || spec.type === 'grpcs')
    startGrpcProbe(spec, probeHost(spec, hostHeader, t), t, ctl);
  else startHttpProbe(spec, hostHeader, t, ctl, successStatus);
  return { result, abort: () => finish('tcp') };
}

function startHttpProbe(
  spec: ActiveCheckSpec,
  hostHeader: string | undefined,
  t: ProbeTarget,
  ctl: ProbeControl,
  successStatus: (status: number) => boolean,
): void {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(spec.headers)) headers[k] = [...v];
  headers.host = probeHost(spec, hostHeader, t);
  headers.connection = 'close';
  headers['user-agent'] ??= 'fulcrum-health-check';
  const opts = {
    host: t.host,
    port: t.port,
    method: spec.method,
    path: spec.httpPath,
    headers,
    agent: false as const,
  };
  const req =
    spec.type === 'https'
      ? httpsRequest({
          ...opts,
          rejectUnauthorized: spec.httpsVerifyCertificate,
          servername: spec.httpsSni ?? (isIP(t.host) === 0 ? t.host : undefined),
        })
      : httpRequest(opts);
  ctl.onCleanup(() => req.destroy());
  req.on('socket', (s) => s.unref());
  req.once('response', (res) => {
    const status = res.statusCode ?? 0;
    if (spec.httpBody === undefined || !successStatus(status)) {
      // The status decides; the body is read and dropped so the response can end cleanly.
      res.resume();
      ctl.finish(status);
    } else
      readBody(
        res,
        bodyMatcher(spec.httpBody),
        (ok) => ctl.finish(ok ? status : 'mismatch'),
        () => ctl.finish('tcp'),
      );
  });
  req.once('error', () => ctl.finish('tcp'));
  req.end();
}

/** Read up to PROBE_READ_LIMIT_BYTES and report whether the matcher accepts them (early when it can). */
function readBody(
  res: IncomingMessage,
  match: (body: Buffer, complete: boolean) => boolean | undefined,
  done: (ok: boolean) => void,
  fail: () => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  const end = (complete: boolean): void => {
    if (over) return;
    const body = Buffer.concat(chunks, Math.min(size, PROBE_READ_LIMIT_BYTES));
    const verdict = match(body, complete);
    if (verdict === undefined) return;
    over = true;
    res.destroy();
    done(verdict);
  };
  res.on('data', (c: Buffer) => {
    chunks.push(c);
    size += c.length;
    end(size >= PROBE_READ_LIMIT_BYTES);
  });
  res.once('end', () => end(true));
  // A body cut short is a broken connection.
  res.once('error', () => fail());
}
