/**
 * Start a real Fulcrum node in-process from YAML text, on 127.0.0.1 port 0 (proxy and admin),
 * with logs off unless FULCRUM_TEST_LOGS is set.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/core/clock.ts';
import { FulcrumNode } from '../../src/runtime/node.ts';

export interface TestNode {
  readonly node: FulcrumNode;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly adminUrl: string;
  readonly file: string;
  /** Replace the file's contents (then call node.reload()). */
  write(yaml: string): void;
  stop(): Promise<void>;
}

/**
 * Node settings that bind everything to 127.0.0.1:0, with more `listeners` items after the first
 * (`proxy`) and more `admin` keys, each given as YAML lines at their indentation.
 */
export function testHeader(more: { listeners?: string; admin?: string } = {}): string {
  return `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
${more.listeners ?? ''}admin:
  address: 127.0.0.1
  port: 0
${more.admin ?? ''}`;
}

/** A `listeners` item for testHeader: an https listener on 127.0.0.1:0 serving these PEM files. */
export function httpsListener(name: string, pem: { certPath: string; keyPath: string }): string {
  return `  - name: ${name}
    protocol: https
    address: 127.0.0.1
    port: 0
    tls:
      certificate: ${pem.certPath}
      key: ${pem.keyPath}
`;
}

/** Node settings that bind everything to 127.0.0.1:0; prepend to a test's YAML body. */
export const TEST_NODE_HEADER = testHeader();

export async function startFulcrum(
  yamlBody: string,
  opts: { header?: string; accessLog?: string; clock?: Clock; before?: (dir: string) => void } = {},
): Promise<TestNode> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-test-'));
  opts.before?.(dir);
  const file = join(dir, 'fulcrum.yaml');
  const write = (body: string) => writeFileSync(file, (opts.header ?? TEST_NODE_HEADER) + body);
  write(yamlBody);
  const logs = process.env.FULCRUM_TEST_LOGS;
  const node = await FulcrumNode.start({
    configFile: file,
    accessLog: opts.accessLog ?? (logs ? 'stderr' : 'off'),
    logLevel: logs ? 'debug' : 'silent',
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const port = node.proxyAddresses()[0]!.port;
  const adminPort = node.adminAddress()?.port ?? 0;
  return {
    node,
    port,
    adminPort,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    file,
    write,
    stop: () => node.stop(),
  };
}
