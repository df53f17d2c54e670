/**
 * A Fulcrum node in managed mode (state file in a fresh temp directory, seeded with node settings
 * that bind 127.0.0.1:0) and a small admin API client.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { FulcrumNode } from '../../src/runtime/node.ts';
import { TEST_NODE_HEADER } from './fulcrum.ts';

export interface ManagedNode {
  readonly node: FulcrumNode;
  readonly url: string;
  readonly adminUrl: string;
  readonly stateFile: string;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Start a managed node; `seedBody` (YAML after the test header) seeds a state file that does not exist yet. */
export async function startManaged(
  opts: { seedBody?: string; stateFile?: string; header?: string } = {},
): Promise<ManagedNode> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-admin-'));
  const seed = join(dir, 'seed.yaml');
  writeFileSync(seed, (opts.header ?? TEST_NODE_HEADER) + (opts.seedBody ?? ''));
  const stateFile = opts.stateFile ?? join(dir, 'state.json');
  const logs = process.env.FULCRUM_TEST_LOGS;
  const node = await FulcrumNode.start({
    configFile: seed,
    stateFile,
    accessLog: logs ? 'stderr' : 'off',
    logLevel: logs ? 'debug' : 'silent',
  });
  return {
    node,
    url: `http://127.0.0.1:${node.proxyAddresses()[0]!.port}`,
    adminUrl: `http://127.0.0.1:${node.adminAddress()!.port}`,
    stateFile,
    dir,
    stop: () => node.stop(),
  };
}

export interface AdminReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
  body: any;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One admin request. `body` as an object is sent as JSON; as a string it is sent as
 * `application/x-www-form-urlencoded` (Kong's curl `-d` style) unless `type` says otherwise.
 */
export async function admin(
  base: string,
  method: Method,
  path: string,
  body?: unknown,
  opts: { token?: string; type?: string } = {},
): Promise<AdminReply> {
  const headers: Record<string, string> = {};
  let payload: string | undefined;
  if (typeof body === 'string') {
    payload = body;
    headers['content-type'] = opts.type ?? 'application/x-www-form-urlencoded';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = opts.type ?? 'application/json';
  }
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await request(`${base}${path}`, { method, headers, body: payload });
  const text = await res.body.text();
  let parsed: unknown = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.statusCode, body: parsed, text, headers: res.headers };
}
