/**
 * How soon an admin change is in effect while the proxy carries load (docs/benchmarks.md): the
 * scenario of test/integration/admin-live.test.ts (test/helpers/admin-live-load.ts), timed from
 * sending each change to seeing it in effect through the admin API or the proxy.
 *
 *   npm run build --silent && node dist/bench/admin/live-changes.js [CHANGES]
 */
import { liveSummary, runLiveChanges, startLiveNode } from '../../test/helpers/admin-live-load.ts';

const changes = Number(process.argv[2] ?? 200);
const live = await startLiveNode();
try {
  const r = await runLiveChanges(live.f, live.ups, changes);
  console.log(liveSummary(r, changes));
  if (r.failures.length > 0) console.log(`failures: ${r.failures.slice(0, 10).join('; ')}`);
} finally {
  await live.close();
}
