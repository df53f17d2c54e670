/**
 * File mode: the declarative file (YAML or JSON) is the source of truth. It is read on start and
 * on every reload and never written: admin entity writes are refused (see admin/resources.ts).
 */
import { readSource } from '../config/load.ts';
import type { ConfigStore, Loaded } from './store.ts';

export class FileStore implements ConfigStore {
  readonly kind = 'file' as const;
  readonly writable = false;
  readonly location: string;

  constructor(file: string) {
    this.location = file;
  }

  load(): Loaded {
    return { kind: 'document', source: readSource(this.location) };
  }

  save(): void {
    throw new Error(`${this.location} is read-only: the node runs in file mode`);
  }
}
