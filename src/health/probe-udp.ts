/**
 * The `udp` probe: one datagram (`udp_send`) to the target on a connected socket, and a reply
 * within the timeout. The first datagram back decides: it must contain `udp_expect` (any reply does
 * without it), else the probe is a `mismatch`. A connected UDP socket hears the ICMP port
 * unreachable that a closed port sends back, as ECONNREFUSED: that is a TCP-style failure (nobody
 * listens), as a refused connection is for TCP. Silence — the datagram or its reply lost, or a
 * server that stopped answering — is a timeout. No peer has UDP checks (Kong, Envoy and HAProxy
 * probe UDP services over TCP or HTTP, if at all); the model is HAProxy's tcp-check send/expect.
 */
import type { Buffer } from 'node:buffer';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { ActiveCheckSpec } from '../config/healthchecks.ts';
import { type ProbeControl, type ProbeTarget, payloadBytes } from './probe-kit.ts';

export function startUdpProbe(spec: ActiveCheckSpec, t: ProbeTarget, ctl: ProbeControl): void {
  const sock = createSocket(isIP(t.host) === 6 ? 'udp6' : 'udp4');
  sock.unref();
  ctl.onCleanup(() => {
    try {
      sock.close();
    } catch {
      // already closed
    }
  });
  const send = payloadBytes(spec.udpSend ?? '');
  const expect = spec.udpExpect === undefined ? undefined : payloadBytes(spec.udpExpect);
  sock.on('error', () => ctl.finish('tcp'));
  sock.on('message', (msg: Buffer) => {
    ctl.finish(expect === undefined || msg.includes(expect) ? 'connected' : 'mismatch');
  });
  sock.connect(t.port, t.host, () => {
    sock.send(send, (err) => {
      if (err) ctl.finish('tcp');
    });
  });
}
