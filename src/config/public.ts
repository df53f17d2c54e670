/**
 * `fulcrum/config`: the declarative file's types (generated from the schema, file-types.ts) and a
 * validator for a configuration written in code, with the same checks and messages as a file
 * (`fulcrum validate`). The JSON Schema itself is `fulcrum/schema.json`.
 */
import { MemoryStore } from '../store/memory-store.ts';
import type { FulcrumConfig } from './file-types.ts';
import { ConfigError, type ConfigIssue } from './load.ts';
import { snapshotFromSource } from './validate.ts';

export type * from './file-types.ts';
export { ConfigError, type ConfigIssue } from './load.ts';

/**
 * Checks a configuration object without starting anything: every issue (path, what was expected),
 * empty when it is valid. Objects that would start disabled (a route naming a missing service) are
 * not issues; `fulcrum validate` reports those too.
 */
export function validateConfig(config: FulcrumConfig): readonly ConfigIssue[] {
  try {
    const loaded = new MemoryStore(config).load();
    if (loaded.kind === 'document') snapshotFromSource(loaded.source);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
}
