/**
 * The header fields of one HTTP/1.1 message head, kept as bytes: the head's buffer and four
 * offsets per field (name start and end, value start and end, OWS trimmed) with the id of the
 * names the proxy acts on (syntax.ts). Nothing is turned into a string until someone asks for a
 * field by name; forwarding copies the bytes of the fields it keeps (head-builder.ts).
 */
import { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import type { HeadWriter } from './head-writer.ts';
import { H, type HeaderId, headerIdOfName } from './syntax.ts';

/**
 * A message's fields, whatever the codec that read them: an HTTP/1.1 head kept as bytes
 * (RawFields), or HTTP/2's decoded list (StringFields). `ids` names the fields the proxy acts on.
 */
export interface Fields {
  readonly count: number;
  readonly ids: ArrayLike<number>;
  nameIs(i: number, lower: string): boolean;
  /** Field `i`'s name, lower-cased. */
  name(i: number): string;
  /** Field `i`'s name as sent. */
  rawName(i: number): string;
  value(i: number): string;
  indexOf(lower: string, from?: number): number;
  indexOfId(id: HeaderId, from?: number): number;
  /** Repeated fields joined as Node joins them (`, `; `; ` for cookie); undefined when absent. */
  get(lower: string): string | undefined;
  /** All fields as Node's IncomingMessage.headers (made once, on demand). */
  toObject(): IncomingHttpHeaders;
  /** [name, value, ...] as sent. */
  toFlat(): string[];
  /** Write field `i` as `name: value\r\n` into an HTTP/1.1 head. */
  writeLine(w: HeadWriter, i: number): void;
  /** Write fields `from` to `to` (exclusive), in one copy when they are bytes. */
  writeLines(w: HeadWriter, from: number, to: number): void;
}

/** Lower-case ASCII fold of one byte. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

export class RawFields implements Fields {
  /** The buffer the offsets point into. */
  readonly buf: Buffer;
  /** 4 per field: name start, name end, value start, value end. */
  readonly at: readonly number[];
  /** The id of each field's name (syntax.ts `H`). */
  readonly ids: readonly number[];
  private obj: IncomingHttpHeaders | null = null;

  constructor(buf: Buffer, at: readonly number[], ids: readonly number[]) {
    this.buf = buf;
    this.at = at;
    this.ids = ids;
  }

  get count(): number {
    return this.ids.length;
  }

  /** Whether field `i`'s name is `lower` (a lower-case name), ignoring case. */
  nameIs(i: number, lower: string): boolean {
    const s = this.at[4 * i]!;
    const e = this.at[4 * i + 1]!;
    if (e - s !== lower.length) return false;
    const b = this.buf;
    for (let k = 0; k < lower.length; k++) if (fold(b[s + k]!) !== lower.charCodeAt(k)) return false;
    return true;
  }

  /** Field `i`'s name, lower-cased. */
  name(i: number): string {
    return this.buf.toString('latin1', this.at[4 * i], this.at[4 * i + 1]).toLowerCase();
  }

  /** Field `i`'s name as sent. */
  rawName(i: number): string {
    return this.buf.toString('latin1', this.at[4 * i], this.at[4 * i + 1]);
  }

  value(i: number): string {
    return this.buf.toString('latin1', this.at[4 * i + 2], this.at[4 * i + 3]);
  }

  /** The index of the first field named `lower`, or -1. */
  indexOf(lower: string, from = 0): number {
    for (let i = from; i < this.ids.length; i++) if (this.nameIs(i, lower)) return i;
    return -1;
  }

  /** The index of the first field with a known id, or -1. */
  indexOfId(id: HeaderId, from = 0): number {
    return this.ids.indexOf(id, from);
  }

  /**
   * The value of `lower` as Node's IncomingMessage.headers gives it: repeated fields joined with
   * `, ` (`; ` for cookie), undefined when absent.
   */
  get(lower: string): string | undefined {
    let out: string | undefined;
    for (let i = 0; i < this.ids.length; i++) {
      if (!this.nameIs(i, lower)) continue;
      const v = this.value(i);
      out = out === undefined ? v : `${out}${lower === 'cookie' ? '; ' : ', '}${v}`;
    }
    return out;
  }

  /**
   * Every field as one object, as Node's IncomingMessage.headers (lower-case names, repeats
   * joined, `set-cookie` an array): made once, on first request, for the plugins that ask.
   */
  toObject(): IncomingHttpHeaders {
    this.obj ??= objectOf(this);
    return this.obj;
  }

  /** [name, value, name, value, ...] as sent (Node's rawHeaders). */
  toFlat(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.ids.length; i++) out.push(this.rawName(i), this.value(i));
    return out;
  }

  writeLine(w: HeadWriter, i: number): void {
    w.bytes(this.buf, this.at[4 * i]!, this.at[4 * i + 3]!).crlf();
  }

  /** Consecutive lines are consecutive bytes of the head: one copy (their separators included). */
  writeLines(w: HeadWriter, from: number, to: number): void {
    if (to <= from) return;
    w.bytes(this.buf, this.at[4 * from]!, this.at[4 * (to - 1) + 3]!).crlf();
  }
}

/**
 * Fields given as strings: an HTTP/2 stream's (names arrive lower-cased, pseudo-headers already
 * taken out), or a list a plugin or the proxy built.
 */
export class StringFields implements Fields {
  /** [name, value, ...]. */
  readonly flat: readonly string[];
  readonly ids: HeaderId[];
  private obj: IncomingHttpHeaders | null = null;

  constructor(flat: readonly string[]) {
    this.flat = flat;
    const ids: HeaderId[] = [];
    for (let i = 0; i < flat.length; i += 2) ids.push(headerIdOfName(flat[i]!.toLowerCase()));
    this.ids = ids;
  }

  get count(): number {
    return this.ids.length;
  }
  nameIs(i: number, lower: string): boolean {
    const n = this.flat[2 * i]!;
    return n.length === lower.length && (n === lower || n.toLowerCase() === lower);
  }
  name(i: number): string {
    return this.flat[2 * i]!.toLowerCase();
  }
  rawName(i: number): string {
    return this.flat[2 * i]!;
  }
  value(i: number): string {
    return this.flat[2 * i + 1]!;
  }
  indexOf(lower: string, from = 0): number {
    for (let i = from; i < this.ids.length; i++) if (this.nameIs(i, lower)) return i;
    return -1;
  }
  indexOfId(id: HeaderId, from = 0): number {
    for (let i = from; i < this.ids.length; i++) if (this.ids[i] === id) return i;
    return -1;
  }
  get(lower: string): string | undefined {
    let out: string | undefined;
    for (let i = 0; i < this.ids.length; i++) {
      if (!this.nameIs(i, lower)) continue;
      const v = this.value(i);
      out = out === undefined ? v : `${out}${lower === 'cookie' ? '; ' : ', '}${v}`;
    }
    return out;
  }
  toObject(): IncomingHttpHeaders {
    this.obj ??= objectOf(this);
    return this.obj;
  }
  toFlat(): string[] {
    return [...this.flat];
  }
  writeLine(w: HeadWriter, i: number): void {
    w.field(this.flat[2 * i]!, this.flat[2 * i + 1]!);
  }
  writeLines(w: HeadWriter, from: number, to: number): void {
    for (let i = from; i < to; i++) this.writeLine(w, i);
  }
}

function objectOf(f: Fields): IncomingHttpHeaders {
  const o: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < f.count; i++) {
    const name = f.name(i);
    const v = f.value(i);
    const prev = o[name];
    if (name === 'set-cookie') {
      if (prev === undefined) o[name] = [v];
      else (prev as string[]).push(v);
    } else if (prev === undefined) o[name] = v;
    else o[name] = `${prev}${name === 'cookie' ? '; ' : ', '}${v}`;
  }
  return o as IncomingHttpHeaders;
}

/** An empty field list, for heads made by the proxy. */
export const NO_FIELDS = new RawFields(Buffer.alloc(0), [], []);

export { H };
