/**
 * Bytes written as text in a config file, for the send/expect payloads of TCP and UDP health
 * checks (HAProxy's `tcp-check send` reads the same escapes): characters are UTF-8, and a backslash
 * starts an escape — `\r`, `\n`, `\t`, `\0`, `\\`, and `\xHH` for any byte. Anything else after a
 * backslash is an error, so a typo is refused instead of sent.
 */
import { Buffer } from 'node:buffer';

const SIMPLE: Readonly<Record<string, number>> = { r: 0x0d, n: 0x0a, t: 0x09, '0': 0x00, '\\': 0x5c };

/** The bytes `text` stands for, or an error message naming the first bad escape. */
export function decodeEscapes(text: string): Buffer | string {
  if (!text.includes('\\')) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let plain = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\') {
      plain += c;
      continue;
    }
    const e = text[i + 1];
    let byte: number | undefined;
    if (e !== undefined && SIMPLE[e] !== undefined) {
      byte = SIMPLE[e];
      i += 1;
    } else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      byte = Number.parseInt(text.slice(i + 2, i + 4), 16);
      i += 3;
    } else return `bad escape at character ${i + 1}: expected \\r, \\n, \\t, \\0, \\\\ or \\xHH`;
    parts.push(Buffer.from(plain, 'utf8'), Buffer.of(byte));
    plain = '';
  }
  parts.push(Buffer.from(plain, 'utf8'));
  return Buffer.concat(parts);
}
