/**
 * A graceful stop's drain (FulcrumNode.stop): stop accepting, close keep-alive connections as
 * they fall idle (every IDLE_SWEEP_MS), and wait for the listeners to have no connection left, up
 * to `drainMs` ('timeout': the caller closes what remains). As nginx's graceful shutdown and Envoy's drain do:
 * requests in flight finish, idle clients are not kept waiting for a timeout. Timers go through
 * the runtime's I/O clock.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { ProxyListener } from '../listeners/index.ts';

/** How often idle keep-alive connections are closed while draining. */
const IDLE_SWEEP_MS = 50;

export function drainListeners(
  listeners: readonly ProxyListener[],
  drainMs: number,
  clock: Clock,
): Promise<'drained' | 'timeout'> {
  return new Promise((resolve) => {
    let sweep: TimerHandle | null = null;
    let over = false;
    const finish = (outcome: 'drained' | 'timeout') => {
      if (over) return;
      over = true;
      if (sweep !== null) clock.clearTimer(sweep);
      clock.clearTimer(deadline);
      resolve(outcome);
    };
    const closeIdle = () => {
      sweep = null;
      for (const l of listeners) l.closeIdle();
      if (!over) sweep = clock.setTimer(IDLE_SWEEP_MS, closeIdle, undefined);
    };
    const deadline = clock.setTimer(drainMs, finish, 'timeout' as const);
    sweep = clock.setTimer(IDLE_SWEEP_MS, closeIdle, undefined);
    void Promise.all(listeners.map((l) => l.stopAccepting())).then(() => finish('drained'));
  });
}
