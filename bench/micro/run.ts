/** Runs the micro benchmarks and prints markdown (`npm run bench:micro`). */
import { runPicks } from './picks.ts';

console.log(`## Micro benchmarks: picks\n\nNode ${process.version}, ${process.platform}/${process.arch}.\n`);
console.log(runPicks());
