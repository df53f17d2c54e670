/**
 * Waiting for a change that lands on its own (a DNS TTL, a watched file): who answers a run of
 * requests, and polling until a condition holds (with a generous bound, never to prove nothing).
 */
import { Agent, type Dispatcher, request } from 'undici';

/** Who answers `n` requests (each target answers its own name), or `status N` for a non-200. */
export async function answers(url: string, n: number, dispatcher?: Dispatcher): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await request(url, dispatcher ? { dispatcher } : {});
    const who = r.statusCode === 200 ? await r.body.text() : `status ${r.statusCode}`;
    if (r.statusCode !== 200) await r.body.dump();
    out.set(who, (out.get(who) ?? 0) + 1);
  }
  return out;
}

/** Poll `f` until it holds, up to `ms`. */
export async function until(f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Load {
  /** The keep-alive connections the load runs on (8), for `answers` on the same connections. */
  readonly agent: Agent;
  /** Requests finished so far. */
  done(): number;
  /** Stop, wait for the requests in flight, close the connections. */
  stop(): Promise<{ done: number; failed: number }>;
}

/**
 * `clients` loops sending GET `url` one after another over 8 keep-alive connections; a request
 * that fails or answers other than 200 counts as failed.
 */
export function keepAliveLoad(url: string, clients = 4): Load {
  const agent = new Agent({ connections: 8, pipelining: 1 });
  let stop = false;
  let failed = 0;
  let done = 0;
  const loads = Array.from({ length: clients }, async () => {
    while (!stop) {
      const r = await request(url, { dispatcher: agent }).catch(() => null);
      if (r === null || r.statusCode !== 200) failed++;
      await r?.body.dump();
      done++;
    }
  });
  return {
    agent,
    done: () => done,
    async stop() {
      stop = true;
      await Promise.all(loads);
      await agent.close();
      return { done, failed };
    },
  };
}
