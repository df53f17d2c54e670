/**
 * Waiting for a change that lands on its own (a DNS TTL, a watched file): who answers a run of
 * requests, and polling until a condition holds (with a generous bound, never to prove nothing).
 */
import type { Dispatcher } from 'undici';
import { request } from 'undici';

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
