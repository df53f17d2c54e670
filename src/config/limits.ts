/**
 * Bounds on every configuration source (the declarative file on start, SIGHUP and --watch, the
 * admin API's POST /config and entity bodies, the managed state file), checked before anything is
 * parsed, so that a hostile or runaway document is refused with a message instead of taking the
 * event loop or the heap (docs/hardening.md). One place, so that every source refuses alike.
 */
import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The largest configuration document, in bytes (about 150,000 services with a route each in YAML).
 * A file is measured before it is read; a request body while it arrives.
 */
export const MAX_CONFIG_DOCUMENT_BYTES = 16 * 1024 * 1024;

/**
 * The deepest nesting of lists and objects in a document. Fulcrum's own schema needs about 10
 * (plugin configs included); JSON.parse, the YAML composer and the schema validator all recurse, so
 * a document nested millions deep is refused before them.
 */
export const MAX_CONFIG_NESTING_DEPTH = 64;

/**
 * YAML aliases: how many times one anchor may be expanded, counting aliases inside aliases (the
 * yaml package's `maxAliasCount`). A "billion laughs" document expands exponentially; this refuses it.
 */
export const MAX_CONFIG_ALIAS_COUNT = 100;

/** Why a source was refused before parsing, and where (a byte offset into the text, or -1). */
export interface LimitBreach {
  readonly offset: number;
  readonly message: string;
}

export function tooLargeMessage(bytes: number, limit = MAX_CONFIG_DOCUMENT_BYTES): string {
  return `the document is ${bytes} bytes; the limit is ${limit} bytes (MAX_CONFIG_DOCUMENT_BYTES)`;
}

export function tooDeepMessage(limit = MAX_CONFIG_NESTING_DEPTH): string {
  return `nested deeper than ${limit} lists and objects (MAX_CONFIG_NESTING_DEPTH)`;
}

/**
 * A file's text, refused without reading it when it is larger than `limit` bytes (measured on the
 * open file, so a file swapped between a stat and the read cannot slip through; a file that grows
 * while read is cut at `limit + 1` bytes and refused). Throws the fs error when it cannot be read.
 */
export function readBoundedFile(
  file: string,
  limit = MAX_CONFIG_DOCUMENT_BYTES,
): { text: string } | { breach: LimitBreach } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > limit) return { breach: { offset: -1, message: tooLargeMessage(size, limit) } };
    let buf = Buffer.allocUnsafe(Math.min(limit + 1, size + 1));
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (got > limit) return { breach: { offset: -1, message: tooLargeMessage(got, limit) } };
        // The file grew since fstat: read on, up to the limit.
        const next = Buffer.allocUnsafe(Math.min(limit + 1, buf.length * 2));
        buf.copy(next, 0, 0, got);
        buf = next;
      }
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
    }
    return { text: buf.toString('utf8', 0, got) };
  } finally {
    closeSync(fd);
  }
}
