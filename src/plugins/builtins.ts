/**
 * The built-in plugins: the one list (ARCHITECTURE.md convention 4). A name here is stable and
 * documented in docs/plugins.md; the order of this list does not matter (priorities do).
 */
import { keyAuth } from './key-auth.ts';
import type { AnyPlugin } from './types.ts';

export const BUILTINS: readonly AnyPlugin[] = [keyAuth];
