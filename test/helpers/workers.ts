/**
 * Helpers for tests of nodes with worker processes: requests on fresh or kept connections, and
 * the per-worker figures of the primary's `/status` and `/metrics`.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** GET `url` on a connection of its own (so that connections spread across workers). */
export function getFresh(
  url: string,
  headers: Record<string, string> = {},
  idleTimeoutMs = 5000,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return getWith(url, undefined, { connection: 'close', ...headers }, idleTimeoutMs);
}

/** GET `url` through an agent (kept connections). */
export function getWith(
  url: string,
  agent: Agent | undefined,
  headers: Record<string, string> = {},
  idleTimeoutMs = 5000,
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: agent ?? false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface WorkerStatus {
  worker: number;
  pid: number | null;
  state: string;
  generation: number;
  restarts: number;
  connections?: number;
  requests_in_flight?: number;
}

export async function workersOf(adminPort: number): Promise<WorkerStatus[]> {
  const r = await getFresh(`http://127.0.0.1:${adminPort}/status`);
  return (JSON.parse(r.body) as { workers: WorkerStatus[] }).workers;
}

/** Requests counted by each worker (fulcrum_http_requests_total summed per `worker` label). */
export async function requestsByWorker(adminPort: number): Promise<Map<number, number>> {
  const r = await getFresh(`http://127.0.0.1:${adminPort}/metrics`);
  const out = new Map<number, number>();
  for (const line of r.body.split('\n')) {
    const m = /^fulcrum_http_requests_total\{worker="(\d+)"[^}]*\} (\d+)/.exec(line);
    if (m) out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + Number(m[2]));
  }
  return out;
}

export { Agent };

/** The sum across workers of a metric's series whose labels include every `labels` pair. */
export async function metricTotal(
  adminPort: number,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const r = await getFresh(`http://127.0.0.1:${adminPort}/metrics`);
  let total = 0;
  for (const line of r.body.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => m[2]!.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}
