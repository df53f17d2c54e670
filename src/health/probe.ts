/**
 * One active probe of one target: an HTTP(S) GET of the check path, or a TCP connect. The result is
 * what the health counters classify: a status code, `connected` (tcp probe succeeded), `tcp` (the
 * connection failed or broke) or `timeout` (no answer within the check's timeout). A probe never
 * reuses a connection (a pooled socket would hide a target that stopped accepting) and can be
 * aborted, so a stopping node leaves no socket behind.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, connect as netConnect } from 'node:net';
import type { ActiveCheckSpec } from '../config/healthchecks.ts';

/** A status code, or how the probe failed at the transport level. */
export type Outcome = number | 'connected' | 'tcp' | 'timeout';

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

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
  const dflt = spec.type === 'https' ? 443 : 80;
  return t.port === dflt ? host : `${host}:${t.port}`;
}

export function startProbe(
  spec: ActiveCheckSpec,
  hostHeader: string | undefined,
  t: ProbeTarget,
): RunningProbe {
  let settle: (o: Outcome) => void = () => {};
  const result = new Promise<Outcome>((resolve) => {
    settle = resolve;
  });
  let done = false;
  let cleanup: () => void = () => {};
  const finish = (o: Outcome) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    cleanup();
    settle(o);
  };
  const timer = setTimeout(() => finish('timeout'), spec.timeoutMs);
  timer.unref();

  if (spec.type === 'tcp') {
    const sock = netConnect({ host: t.host, port: t.port });
    sock.unref();
    cleanup = () => sock.destroy();
    sock.once('connect', () => finish('connected'));
    sock.once('error', () => finish('tcp'));
    sock.once('close', () => finish('tcp'));
  } else {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(spec.headers)) headers[k] = [...v];
    headers.host = probeHost(spec, hostHeader, t);
    headers.connection = 'close';
    headers['user-agent'] ??= 'fulcrum-health-check';
    const opts = {
      host: t.host,
      port: t.port,
      method: 'GET',
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
    cleanup = () => req.destroy();
    req.on('socket', (s) => s.unref());
    req.once('response', (res) => {
      // The status decides; the body is read and dropped so the response can end cleanly.
      res.resume();
      finish(res.statusCode ?? 0);
    });
    req.once('error', () => finish('tcp'));
    req.end();
  }
  return { result, abort: () => finish('tcp') };
}
