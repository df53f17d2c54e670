/** Runs the micro benchmarks and prints markdown (`npm run bench:micro`). */
import { runPicks } from './picks.ts';
import { runSwapCommit } from './swap-commit.ts';
import { runTargetStats } from './target-stats.ts';

console.log(`## Micro benchmarks: picks\n\nNode ${process.version}, ${process.platform}/${process.arch}.\n`);
console.log(runPicks());
console.log('\n## Micro benchmarks: per-target statistics\n');
console.log(runTargetStats());
console.log('\n## Micro benchmarks: the swap step of a configuration change\n');
console.log(runSwapCommit());
