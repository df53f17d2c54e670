/**
 * The `fulcrum` gRPC load-balancing policy (fulcrum/grpc) on a real @grpc/grpc-js channel over
 * three real grpc-js servers: calls spread by the algorithm's rules (round-robin exactly, ring-hash
 * by a metadata key), a stopped server's subchannel leaves the rotation, and bad policy settings are
 * refused when the service config is made, with the field named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { fulcrumServiceConfig, registerFulcrumPolicy } from '../../src/client/grpc.ts';

const id = (b: Buffer) => b;
const service: grpc.ServiceDefinition = {
  Name: {
    path: '/test.Who/Name',
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
};

interface Named {
  readonly name: string;
  readonly server: grpc.Server;
  readonly address: string;
}

async function start(name: string): Promise<Named> {
  const server = new grpc.Server();
  server.addService(service, {
    Name: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, Buffer.from(name)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { name, server, address: `127.0.0.1:${port}` };
}

function call(c: grpc.Client, md = new grpc.Metadata()): Promise<string> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(
      '/test.Who/Name',
      id,
      id,
      Buffer.alloc(0),
      md,
      { deadline: Date.now() + 5000 },
      (err, v) => (err ? reject(err) : resolve(v!.toString())),
    ),
  );
}

const servers: Named[] = [];
const clients: grpc.Client[] = [];

function channel(policy: Parameters<typeof fulcrumServiceConfig>[0]): grpc.Client {
  const c = new grpc.Client(
    `ipv4:${servers.map((s) => s.address).join(',')}`,
    grpc.credentials.createInsecure(),
    {
      'grpc.service_config': fulcrumServiceConfig(policy),
    },
  );
  clients.push(c);
  return c;
}

/** Calls until every server has answered once (all subchannels READY). */
async function warm(c: grpc.Client): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < 200 && seen.size < servers.length; i++) seen.add(await call(c));
  assert.equal(seen.size, servers.length);
}

describe('the fulcrum gRPC load-balancing policy', () => {
  before(async () => {
    registerFulcrumPolicy();
    registerFulcrumPolicy();
    for (const n of ['a', 'b', 'c']) servers.push(await start(n));
  });
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) s.server.forceShutdown();
  });

  it('round-robin: exactly even over the ready subchannels', async () => {
    const c = channel({ algorithm: 'round-robin' });
    await warm(c);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const n = await call(c);
      counts[n] = (counts[n] ?? 0) + 1;
    }
    assert.deepEqual(counts, { a: 10, b: 10, c: 10 });
  });

  it('ring-hash on a metadata key: a key stays on one server, keys spread', async () => {
    const c = channel({ algorithm: 'ring-hash', hash_on: 'header', hash_on_header: 'x-user' });
    await warm(c);
    const owner = new Map<number, string>();
    const md = (k: number) => {
      const m = new grpc.Metadata();
      m.set('x-user', `user-${k}`);
      return m;
    };
    for (let k = 0; k < 30; k++) owner.set(k, await call(c, md(k)));
    for (let k = 0; k < 30; k++) assert.equal(await call(c, md(k)), owner.get(k));
    assert.equal(new Set(owner.values()).size, 3);
  });

  it('refuses settings the channel owns, or a bad option, naming the field', () => {
    const owned = { algorithm: 'round-robin', healthchecks: {} } as Parameters<
      typeof fulcrumServiceConfig
    >[0];
    assert.throws(() => fulcrumServiceConfig(owned), /healthchecks: the channel looks after this/);
    assert.throws(
      () => fulcrumServiceConfig({ file_sd: { directory: '/srv/targets' } }),
      /file_sd: the channel looks after this/,
    );
    assert.throws(
      () => fulcrumServiceConfig({ algorithm: 'maglev', maglev_table_size: 100 }),
      /maglev_table_size: .*prime/,
    );
    assert.throws(() => fulcrumServiceConfig({ hash_on: 'cookie', hash_on_cookie: 'c' }), /hash_on/);
  });

  it('a stopped server leaves the rotation', async () => {
    const c = channel({ algorithm: 'least-request' });
    await warm(c);
    const gone = servers[2]!;
    gone.server.forceShutdown();
    const names = new Set<string>();
    for (let i = 0; i < 40; i++) {
      try {
        names.add(await call(c));
      } catch {
        // a call already on its way to the stopped server may fail while its subchannel notices
      }
    }
    const last: string[] = [];
    for (let i = 0; i < 20; i++) last.push(await call(c));
    assert.ok(!last.includes('c'), last.join(''));
    assert.ok(names.has('a') && names.has('b'));
  });
});
