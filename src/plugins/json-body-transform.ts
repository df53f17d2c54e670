/**
 * response-transformer's `json` rules on a proxied response body: the body is held (up to a
 * limit) and rewritten once it has all arrived. Past the limit the held bytes and the rest pass on
 * untouched; a body that is not a JSON object passes untouched too. The exchange writes the
 * target's chunks in and pipes this stream to the client (the `encoder` slot compression uses).
 */
import { Buffer } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { applyJsonRules, type BodyRules } from './body-rules.ts';

export class JsonBodyTransform extends Transform {
  private held: Buffer[] | null = [];
  private bytes = 0;
  private readonly limit: number;
  private readonly rules: BodyRules;

  constructor(rules: BodyRules, limit: number) {
    super();
    this.rules = rules;
    this.limit = limit;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const held = this.held;
    if (held === null) return cb(null, chunk);
    this.bytes += chunk.length;
    if (this.bytes <= this.limit) {
      held.push(chunk);
      return cb();
    }
    // Too large to rewrite: send what was held and stream the rest as it comes.
    this.held = null;
    for (const c of held) this.push(c);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const held = this.held;
    if (held === null) return cb();
    const body = Buffer.concat(held);
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      return cb(null, body);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return cb(null, body);
    applyJsonRules(v as Record<string, unknown>, this.rules);
    cb(null, Buffer.from(JSON.stringify(v)));
  }
}
