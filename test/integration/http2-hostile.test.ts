/**
 * Hostile requests the HTTP/2 fuzzer (scripts/fuzz-http2.ts) found getting past Fulcrum's own
 * codec, each as a regression test on a raw socket: the request is refused with the RFC's stream
 * error and never reaches the target (RFC 9113 §8.1.1: a malformed request is not forwarded).
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  alive,
  type Case,
  conformanceCases,
  GET_FIELDS,
  headersOf,
  response,
  streamError,
} from '../helpers/h2-conformance.ts';
import { ERROR } from '../helpers/h2-frames.ts';

const PROTOCOL = ERROR.PROTOCOL_ERROR;

/** GET_FIELDS with one pseudo-header's value replaced. */
function withPseudo(name: string, value: string): [string, string][] {
  return GET_FIELDS.map(([n, v]) => [n, n === name ? value : v]);
}

describe('HTTP/2 hostile requests found by fuzz-http2 (own codec)', () => {
  /** A malformed request: RST_STREAM(PROTOCOL_ERROR), the connection lives, the target saw nothing. */
  const refused = (fields: [string, string][]) => async (c: Parameters<Case[1]>[0]) => {
    const before = bench.up.seen.length;
    c.write(headersOf(1, fields));
    await streamError(c, 1, PROTOCOL);
    // A valid request after it is forwarded: the refused one would have been seen before it.
    c.write(headersOf(3, withPseudo(':path', '/after')));
    await response(c, 3);
    assert.deepEqual(
      bench.up.seen.slice(before).map((s) => s.url),
      ['/after'],
    );
    await alive(c);
  };
  const cases: Case[] = [
    // Seed 1, sequence 9134: a bit flip made ':path' "/\xefk/...", which was sent to the target
    // as a request line its HTTP/1.1 parser refused (Fulcrum's own HTTP/1.1 side refuses it too).
    ['a :path with a byte outside VCHAR (0xef) is malformed', refused(withPseudo(':path', '/\xefk'))],
    ['a :path with a space is malformed', refused(withPseudo(':path', '/a b'))],
    ['a :path with DEL is malformed', refused(withPseudo(':path', '/a\x7f'))],
    [
      'a :path that is not an absolute path (nor * for OPTIONS) is malformed',
      refused(withPseudo(':path', 'a/b')),
    ],
    ['a :method that is not a token is malformed', refused(withPseudo(':method', 'GE T'))],
    ['an empty :method is malformed', refused(withPseudo(':method', ''))],
    // Seed 11, sequence 313514: an index "beyond" the table hit an entry `content-length: 5` an
    // earlier stream had added, on HEADERS that end the stream. A Content-Length other than the
    // DATA that follows (none) is malformed (RFC 9113 §8.1.1); the head had gone to the target
    // before the missing body was noticed.
    [
      'a Content-Length on HEADERS that end the stream is malformed',
      refused([...GET_FIELDS, ['content-length', '5']]),
    ],
    // Seed 11, 901 s run: a value with a control character reached the HTTP/1.1 writer, which
    // refused it (an error logged, a 502). HTTP/1.1 cannot carry it (RFC 9110 §5.5): malformed here.
    [
      'a field value with a control character (0x01) is malformed',
      refused([...GET_FIELDS, ['x-a', 'a\x01b']]),
    ],
    ['a field value with DEL is malformed', refused([...GET_FIELDS, ['x-a', 'a\x7fb']])],
  ];
  const bench = conformanceCases(cases);
});
