/**
 * Event-loop probe preloaded into the Fulcrum child by the hostile-config bench
 * (`NODE_OPTIONS=--import=.../probe.js`), so Fulcrum itself carries no measuring code.
 * perf_hooks.monitorEventLoopDelay records every delay of the loop; on SIGUSR2 the probe writes the
 * longest delay since the previous SIGUSR2 to FULCRUM_PROBE_FILE (one JSON line) and starts over.
 */
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.FULCRUM_PROBE_FILE;
if (file !== undefined && file !== '') {
  const h = monitorEventLoopDelay({ resolution: 2 });
  h.enable();
  process.on('SIGUSR2', () => {
    appendFileSync(file, `${JSON.stringify({ maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6 })}\n`);
    h.reset();
  });
}
