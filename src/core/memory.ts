/**
 * Keep a streaming proxy's memory flat. Every chunk a proxy relays is a fresh Buffer that is dead
 * once written; V8 frees those backing stores only when a garbage collection runs, and for a
 * process that allocates little else it runs when external memory has grown by its own limit
 * (64 MB and more: measured peaks of 130 MB on Node 20 and 175 MB on Node 24 for a 1 GiB
 * download from a 60-78 MB start). Counting relayed bytes and asking for a young-generation
 * collection (a scavenge: about a millisecond) every 16 MiB bounds that garbage instead.
 *
 * `gc` is not exposed by default; setting the flag at run time and reading the function from a
 * new context is V8's supported way to reach it without a command-line flag (Node's own test
 * suite does the same). If it is unavailable, the counter does nothing.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Relayed bytes between two young-generation collections. */
export const SCAVENGE_EVERY_BYTES = 16 * 1024 * 1024;

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

function loadGc(): Gc | null {
  try {
    const existing = (globalThis as { gc?: Gc }).gc;
    if (typeof existing === 'function') return existing;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as Gc | undefined;
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  }
}

let gc: Gc | null | undefined;
let relayed = 0;

/** Count bytes relayed through the proxy (bodies both ways); may run a scavenge. */
export function noteRelayed(bytes: number): void {
  relayed += bytes;
  if (relayed < SCAVENGE_EVERY_BYTES) return;
  relayed = 0;
  if (gc === undefined) gc = loadGc();
  gc?.({ type: 'minor' });
}
