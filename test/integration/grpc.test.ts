/**
 * gRPC end to end through an h2c listener to `protocol: grpc` services, with a real @grpc/grpc-js
 * client and servers (hand-written identity serializers: no protoc): unary, server-streaming and
 * client-streaming calls with trailers, statuses relayed from the target, each call balanced on
 * its own over one client channel, and the proxy's own failures as gRPC statuses (no route →
 * UNIMPLEMENTED, target down → UNAVAILABLE, grpc-timeout passed → DEADLINE_EXCEEDED).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const H2C_HEADER = `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
admin:
  address: 127.0.0.1
  port: 0
`;

const id = (b: Buffer) => b;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const service: grpc.ServiceDefinition = {
  Unary: method('/test.Echo/Unary', false, false),
  Stream: method('/test.Echo/Stream', false, true),
  Collect: method('/test.Echo/Collect', true, false),
  Fail: method('/test.Echo/Fail', false, false),
  Hang: method('/test.Echo/Hang', false, false),
};

interface EchoServer {
  readonly name: string;
  readonly port: number;
  /** Calls whose handler saw the client cancel (a deadline the proxy enforced, say). */
  cancelled: number;
  server: grpc.Server;
}

async function startEcho(name: string, creds = grpc.ServerCredentials.createInsecure()): Promise<EchoServer> {
  const server = new grpc.Server();
  const state: EchoServer = { name, port: 0, cancelled: 0, server };
  server.addService(service, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.concat([Buffer.from(`${name}:`), call.request])),
    Stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`${name}-${i}`));
      const md = new grpc.Metadata();
      md.set('x-served-by', name);
      call.end(md);
    },
    Collect: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let total = 0;
      let count = 0;
      call.on('data', (b: Buffer) => {
        total += b.length;
        count++;
      });
      call.on('end', () => cb(null, Buffer.from(`${count}/${total}`)));
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb({ code: grpc.status.NOT_FOUND, details: 'no such thing ✓' }),
    Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      call.on('cancelled', () => state.cancelled++);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return Object.assign(state, { port });
}

function yaml(targets: string[], extra = ''): string {
  return `upstreams:
  - name: grpc-pool
    algorithm: round-robin
    targets:
${targets.map((t) => `      - target: ${t}`).join('\n')}
services:
  - name: echo
    protocol: grpc
    host: grpc-pool
    retries: 0
    connect_timeout: 2000
${extra}    routes:
      - paths: ["/test.Echo/"]
        strip_path: false
`;
}

function unary(c: grpc.Client, path: string, arg: Buffer, deadlineMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(
      path,
      id,
      id,
      arg,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, v) => (err ? reject(err) : resolve(v!)),
    ),
  );
}

describe('gRPC through the proxy', () => {
  let s1: EchoServer;
  let s2: EchoServer;
  let f: TestNode;
  let client: grpc.Client;
  before(async () => {
    s1 = await startEcho('one');
    s2 = await startEcho('two');
    f = await startFulcrum(yaml([`127.0.0.1:${s1.port}`, `127.0.0.1:${s2.port}`]), { header: H2C_HEADER });
    client = new grpc.Client(`127.0.0.1:${f.port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await f.stop();
    s1.server.forceShutdown();
    s2.server.forceShutdown();
  });

  it('unary calls on one channel are balanced call by call across two servers', async () => {
    const out = await Promise.all(
      Array.from({ length: 10 }, (_, i) => unary(client, '/test.Echo/Unary', Buffer.from(`m${i}`))),
    );
    const by = { one: 0, two: 0 };
    out.forEach((b, i) => {
      const [who, msg] = b.toString().split(':');
      assert.equal(msg, `m${i}`);
      by[who as 'one' | 'two']++;
    });
    assert.deepEqual(by, { one: 5, two: 5 });
  });

  it('server streaming: every message, then OK with the trailers metadata', async () => {
    const call = client.makeServerStreamRequest(
      '/test.Echo/Stream',
      id,
      id,
      Buffer.from('50'),
      new grpc.Metadata(),
      {
        deadline: Date.now() + 5000,
      },
    );
    const got: string[] = [];
    call.on('data', (b: Buffer) => got.push(b.toString()));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    assert.equal(status.code, grpc.status.OK);
    assert.equal(got.length, 50);
    const who = got[0]!.split('-')[0]!;
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => `${who}-${i}`),
    );
    assert.deepEqual(status.metadata.get('x-served-by'), [who]);
  });

  it('client streaming: the server sees every message', async () => {
    const result = await new Promise<Buffer>((resolve, reject) => {
      const call = client.makeClientStreamRequest(
        '/test.Echo/Collect',
        id,
        id,
        new grpc.Metadata(),
        {
          deadline: Date.now() + 5000,
        },
        (err, v) => (err ? reject(err) : resolve(v!)),
      );
      for (let i = 0; i < 20; i++) call.write(Buffer.alloc(100, i));
      call.end();
    });
    assert.equal(result.toString(), '20/2000');
  });

  it("relays the target's error status and message (a trailers-only answer)", async () => {
    await assert.rejects(unary(client, '/test.Echo/Fail', Buffer.alloc(0)), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'no such thing ✓');
      return true;
    });
  });

  it('no route → UNIMPLEMENTED', async () => {
    await assert.rejects(unary(client, '/other.Service/Call', Buffer.alloc(0)), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNIMPLEMENTED);
      assert.match(err.details, /FULCRUM_ERR_NO_ROUTE/);
      return true;
    });
  });

  it('honours grpc-timeout: DEADLINE_EXCEEDED from the proxy, and the target call is cancelled', async () => {
    // A raw HTTP/2 client with no deadline of its own: only the proxy can end this call.
    const c = connect(f.url);
    try {
      const before = s1.cancelled + s2.cancelled;
      const started = Date.now();
      const head = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const s = c.request({
          ':method': 'POST',
          ':path': '/test.Echo/Hang',
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': '200m',
        });
        s.end(Buffer.from([0, 0, 0, 0, 0]));
        s.on('response', (h, flags) => resolve({ ...h, endStream: (flags & 1) === 1 }));
        s.on('error', reject);
        s.resume();
      });
      assert.ok(Date.now() - started < 3000);
      assert.equal(head[':status'], 200);
      assert.equal(head['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
      assert.equal(head.endStream, true, 'a trailers-only response');
      // The proxy gave the try up: the target sees its call cancelled.
      const until = Date.now() + 3000;
      while (s1.cancelled + s2.cancelled === before && Date.now() < until)
        await new Promise((r) => setImmediate(r));
      assert.equal(s1.cancelled + s2.cancelled, before + 1);
    } finally {
      c.close();
    }
  });

  it("a client deadline shorter than the call's answer ends in DEADLINE_EXCEEDED", async () => {
    await assert.rejects(unary(client, '/test.Echo/Hang', Buffer.alloc(0), 150), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
      return true;
    });
  });
});

describe('gRPC failures mapped to statuses', () => {
  it('a target that is down → UNAVAILABLE; no healthy target → UNAVAILABLE', async () => {
    const dead = await startEcho('dead');
    const port = dead.port;
    dead.server.forceShutdown();
    const empty = `  - name: empty
    protocol: grpc
    host: nobody
    routes:
      - paths: ["/empty.Svc/"]
        strip_path: false
`;
    const f = await startFulcrum(
      yaml([`127.0.0.1:${port}`]).replace('upstreams:\n', 'upstreams:\n  - name: nobody\n    targets: []\n') +
        empty,
      { header: H2C_HEADER },
    );
    const client = new grpc.Client(`127.0.0.1:${f.port}`, grpc.credentials.createInsecure());
    try {
      await assert.rejects(unary(client, '/test.Echo/Unary', Buffer.from('x')), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        assert.match(err.details, /FULCRUM_ERR_UPSTREAM_CONNECT/);
        return true;
      });
      await assert.rejects(unary(client, '/empty.Svc/Call', Buffer.from('x')), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        assert.match(err.details, /FULCRUM_ERR_NO_HEALTHY_TARGET/);
        return true;
      });
    } finally {
      client.close();
      await f.stop();
    }
  });
});

describe('gRPC retries', () => {
  it('a connect failure on one target is retried on the other: every call succeeds', async () => {
    const live = await startEcho('live');
    const dead = await startEcho('dead');
    const deadPort = dead.port;
    dead.server.forceShutdown();
    const f = await startFulcrum(
      yaml([`127.0.0.1:${live.port}`, `127.0.0.1:${deadPort}`]).replace('retries: 0', 'retries: 2'),
      { header: H2C_HEADER },
    );
    const client = new grpc.Client(`127.0.0.1:${f.port}`, grpc.credentials.createInsecure());
    try {
      const out = await Promise.all(
        Array.from({ length: 6 }, (_, i) => unary(client, '/test.Echo/Unary', Buffer.from(`r${i}`))),
      );
      assert.deepEqual(
        out.map((b) => b.toString()),
        Array.from({ length: 6 }, (_, i) => `live:r${i}`),
      );
    } finally {
      client.close();
      await f.stop();
      live.server.forceShutdown();
    }
  });
});

describe('gRPC to a TLS target (protocol: grpcs)', () => {
  it('speaks HTTP/2 over TLS (ALPN h2) to the target and relays the call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-grpcs-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    const secure = await startEcho(
      'tls',
      grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: readFileSync(key), cert_chain: readFileSync(cert) }],
        false,
      ),
    );
    const f = await startFulcrum(
      `services:
  - name: echo
    protocol: grpcs
    host: 127.0.0.1
    port: ${secure.port}
    tls_verify: false
    routes:
      - paths: ["/test.Echo/"]
        strip_path: false
`,
      { header: H2C_HEADER },
    );
    const client = new grpc.Client(`127.0.0.1:${f.port}`, grpc.credentials.createInsecure());
    try {
      assert.equal((await unary(client, '/test.Echo/Unary', Buffer.from('x'))).toString(), 'tls:x');
      await assert.rejects(unary(client, '/test.Echo/Fail', Buffer.alloc(0)), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        return true;
      });
    } finally {
      client.close();
      await f.stop();
      secure.server.forceShutdown();
    }
  });
});
