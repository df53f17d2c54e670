/**
 * gRPC health checks through a running proxy, against a real @grpc/grpc-js server on 127.0.0.1
 * implementing grpc.health.v1.Health/Check with hand-written serializers (no protoc, no
 * proto-loader): SERVING, NOT_SERVING, an unknown service (grpc-status NOT_FOUND), a server that
 * stopped, and one that came back.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

type Status = 'SERVING' | 'NOT_SERVING';
const CODES: Record<Status, number> = { SERVING: 1, NOT_SERVING: 2 };

/** HealthCheckRequest{service}: field 1, a string (a one-byte length is enough here). */
function decodeRequest(b: Buffer): { service: string } {
  if (b.length === 0) return { service: '' };
  assert.equal(b[0], 0x0a);
  return { service: b.subarray(2, 2 + b[1]!).toString('utf8') };
}
/** HealthCheckResponse{status}: field 1, a varint. */
function encodeResponse(r: { status: number }): Buffer {
  return Buffer.from([0x08, r.status]);
}

const healthService: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (_: unknown) => Buffer.alloc(0),
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: (_: Buffer) => ({}),
  },
};

async function startHealthServer(statuses: Map<string, Status>, port = 0) {
  const calls: string[] = [];
  const metadata: string[] = [];
  const server = new grpc.Server();
  server.addService(healthService, {
    Check: (
      call: grpc.ServerUnaryCall<{ service: string }, { status: number }>,
      cb: grpc.sendUnaryData<{ status: number }>,
    ) => {
      calls.push(call.request.service);
      metadata.push(String(call.metadata.get('x-probe')[0] ?? ''));
      const s = statuses.get(call.request.service);
      if (s === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      else cb(null, { status: CODES[s] });
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port: bound, calls, metadata };
}

let f: TestNode | null = null;
const servers: grpc.Server[] = [];
afterEach(async () => {
  await f?.stop();
  f = null;
  for (const s of servers.splice(0)) s.forceShutdown();
});

async function metrics(node: TestNode): Promise<string> {
  return (await request(`${node.adminUrl}/metrics`)).body.text();
}

describe('active grpc checks', () => {
  it('follows SERVING -> NOT_SERVING -> SERVING, and a stopped server', async () => {
    const statuses = new Map<string, Status>([
      ['', 'SERVING'],
      ['orders.v1.Orders', 'SERVING'],
    ]);
    const first = await startHealthServer(statuses);
    servers.push(first.server);
    const target = `127.0.0.1:${first.port}`;
    f = await startFulcrum(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    healthchecks:
      active:
        type: grpc
        grpc_service: orders.v1.Orders
        # Connection is HTTP/1-only: dropped, not fatal to the probe; the rest is metadata.
        headers: { X-Probe: [fulcrum], Connection: [close] }
        timeout: 0.5
        healthy: { interval: 0.02, successes: 1 }
        unhealthy: { interval: 0.02, http_failures: 2, tcp_failures: 1 }
      threshold: 0
    targets:
      - target: ${target}
`);
    const node = f;
    const health = () => node.node.runtime.live.targets.get(`u/${target}`)!.health;
    await waitFor(() => first.calls.length >= 2, 'two probes');
    assert.deepEqual([...new Set(first.calls)], ['orders.v1.Orders'], 'the probe names grpc_service');
    assert.equal(first.metadata[0], 'fulcrum', 'headers are sent as metadata');
    assert.equal(health(), 'healthy');
    statuses.set('orders.v1.Orders', 'NOT_SERVING');
    await waitFor(() => health() === 'unhealthy', 'unhealthy on NOT_SERVING');
    assert.match(await metrics(node), /result="mismatch"\} [2-9]/);
    statuses.set('orders.v1.Orders', 'SERVING');
    await waitFor(() => health() === 'healthy', 'healthy on SERVING');
    // The server no longer knows the service: grpc-status NOT_FOUND, a failure.
    statuses.delete('orders.v1.Orders');
    await waitFor(() => health() === 'unhealthy', 'unhealthy on a non-zero grpc-status');
    statuses.set('orders.v1.Orders', 'SERVING');
    await waitFor(() => health() === 'healthy', 'healthy again');
    first.server.forceShutdown();
    await waitFor(() => health() === 'unhealthy', 'unhealthy once the server stopped');
    assert.match(await metrics(node), /result="tcp_failure"/);
    const again = await startHealthServer(statuses, first.port);
    servers.push(again.server);
    await waitFor(() => health() === 'healthy', 'healthy once the server is back');
    assert.ok(again.calls.length >= 1);
  });
});
