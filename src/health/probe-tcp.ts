/**
 * The `tcp` probe: a connection, and optionally an exchange (HAProxy's `tcp-check send` /
 * `expect string`). Without `tcp_send`/`tcp_expect`, established is a success. With `tcp_send`, the
 * bytes are written once connected; without `tcp_expect` the probe succeeds when they have been
 * handed to the kernel. With `tcp_expect`, the reply (after the send, or a banner when nothing is
 * sent) must contain those bytes within the timeout: a reply that ends without them, or passes
 * 64 KiB without them, is a `mismatch`; a refused, reset or closed connection before a verdict is a
 * TCP failure.
 */
import { Buffer } from 'node:buffer';
import { connect as netConnect } from 'node:net';
import type { ActiveCheckSpec } from '../config/healthchecks.ts';
import { PROBE_READ_LIMIT_BYTES, type ProbeControl, type ProbeTarget, payloadBytes } from './probe-kit.ts';

export function startTcpProbe(spec: ActiveCheckSpec, t: ProbeTarget, ctl: ProbeControl): void {
  const sock = netConnect({ host: t.host, port: t.port });
  sock.unref();
  ctl.onCleanup(() => sock.destroy());
  const send = spec.tcpSend === undefined ? undefined : payloadBytes(spec.tcpSend);
  const expect = spec.tcpExpect === undefined ? undefined : payloadBytes(spec.tcpExpect);
  sock.once('connect', () => {
    if (expect === undefined) {
      if (send === undefined) ctl.finish('connected');
      else sock.write(send, (err) => ctl.finish(err ? 'tcp' : 'connected'));
      return;
    }
    if (send !== undefined) sock.write(send);
    let got = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.includes(expect)) ctl.finish('connected');
      else if (got.length >= PROBE_READ_LIMIT_BYTES) ctl.finish('mismatch');
    });
    // The peer finished its reply without the expected bytes: an answer, but the wrong one.
    sock.once('end', () => ctl.finish(got.length > 0 ? 'mismatch' : 'tcp'));
  });
  sock.once('error', () => ctl.finish('tcp'));
  sock.once('close', () => ctl.finish('tcp'));
}
