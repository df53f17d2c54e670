/**
 * Embedded mode (`startFulcrum({ config })`, src/index.ts): the declarative document the
 * application hands over, kept in memory and never written, like a file the application owns.
 * `load` re-reads the document held now, so a reload with a new document goes through the same
 * validation, import and swap as a file reload. Errors carry paths and, for the pretty JSON the
 * document is rendered as, lines.
 */
import { parseSource } from '../config/load.ts';
import type { ConfigStore, Loaded } from './store.ts';

export class MemoryStore implements ConfigStore {
  readonly kind = 'file' as const;
  readonly writable = false;
  readonly location: string;
  /** The document the next load reads; replace it before a reload. */
  document: unknown;

  constructor(document: unknown, location = '<config>') {
    this.document = document;
    this.location = location;
  }

  load(): Loaded {
    return { kind: 'document', source: parseSource(this.documentText(), this.location) };
  }

  documentText(): string {
    return JSON.stringify(this.document, null, 2);
  }

  save(): void {
    throw new Error(`${this.location} is read-only: the node runs from a document held in memory`);
  }
}
