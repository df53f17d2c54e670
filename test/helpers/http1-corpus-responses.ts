/**
 * The response half of the HTTP/1.1 corpus (see http1-corpus.ts): status lines, fields, framing
 * (Content-Length, chunked, until close), bodiless answers (HEAD, 1xx, 204, 304), as a target
 * may send them to Fulcrum's upstream connections.
 */
import {
  CHUNKED_BODIES,
  CRLF,
  ch,
  end0,
  type Http1Case,
  latin1,
  llhttpVaries,
  message,
  NAME_BYTES_INVALID,
  STRICTER,
  VALUE_CONTROLS,
} from './http1-corpus.ts';

export function responseCorpus(): Http1Case[] {
  const out: Http1Case[] = [];
  const add = (name: string, s: string, stricter?: string, headOnly = false): void => {
    out.push({
      name,
      bytes: latin1(s),
      ...(stricter ? { stricter } : {}),
      ...(headOnly ? { headOnly } : {}),
    });
  };
  const ok = (fields: readonly string[], body = '', start = 'HTTP/1.1 200 OK'): string =>
    message(start, fields, body);
  const CL = (b: string): string => `Content-Length: ${b.length}`;

  // ---- status lines ----
  for (const [name, line] of [
    ['200 OK', 'HTTP/1.1 200 OK'],
    ['HTTP/1.0', 'HTTP/1.0 200 OK'],
    ['no reason', 'HTTP/1.1 200'],
    ['empty reason', 'HTTP/1.1 200 '],
    ['reason with spaces', 'HTTP/1.1 404 Not Found Here'],
    ['reason with obs-text', 'HTTP/1.1 200 \xc7a va'],
    ['reason with HTAB', 'HTTP/1.1 200 O\tK'],
    ['status 599', 'HTTP/1.1 599 Custom'],
    ['status 999', 'HTTP/1.1 999 Nine'],
  ] as const)
    add(`status line: ${name}`, ok(['Content-Length: 2'], 'ok', line));
  add('status line: 099', ok(['Content-Length: 2'], 'ok', 'HTTP/1.1 099 Low'), STRICTER.STATUS_BELOW_100);
  add('status line: 000', ok(['Content-Length: 2'], 'ok', 'HTTP/1.1 000 Zero'), STRICTER.STATUS_BELOW_100);
  for (const [name, line] of [
    ['HTTP/1.2', 'HTTP/1.2 200 OK'],
    ['HTTP/2', 'HTTP/2 200 OK'],
    ['lower-case', 'http/1.1 200 OK'],
    ['two-digit status', 'HTTP/1.1 20 OK'],
    ['four-digit status', 'HTTP/1.1 2000 OK'],
    ['status with a letter', 'HTTP/1.1 2x0 OK'],
    ['two spaces', 'HTTP/1.1  200 OK'],
    ['HTAB separator', 'HTTP/1.1\t200 OK'],
    ['reason with a bare CR', 'HTTP/1.1 200 O\rK'],
    ['no status', 'HTTP/1.1'],
    ['leading space', ' HTTP/1.1 200 OK'],
  ] as const)
    add(`status line: ${name}`, ok(['Content-Length: 2'], 'ok', line));
  add('status line ending in bare LF', `HTTP/1.1 200 OK\nContent-Length: 2${CRLF}${CRLF}ok`);
  add('every line ending in bare LF', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok');
  add(
    'status line ending in a bare CR',
    `HTTP/1.1 200 OK\r\rContent-Length: 2${CRLF}${CRLF}ok`,
    STRICTER.STATUS_LINE_BARE_CR,
  );
  llhttpVaries(out, 'status line ending in a bare CR');
  add(
    'leading LF before the status line',
    `\n${ok(['Content-Length: 2'], 'ok')}`,
    STRICTER.RESPONSE_LEADING_CRLF,
  );
  add('status line: HTTP/0.9', ok(['Content-Length: 2'], 'ok', 'HTTP/0.9 200 OK'), STRICTER.VERSION);
  add(
    'status line: reason with NUL',
    ok(['Content-Length: 2'], 'ok', 'HTTP/1.1 200 O\x00K'),
    STRICTER.REASON_CONTROLS,
  );
  add(
    'status line: reason with DEL',
    ok(['Content-Length: 2'], 'ok', 'HTTP/1.1 200 O\x7fK'),
    STRICTER.REASON_CONTROLS,
  );
  add('status line: RTSP', ok(['Content-Length: 2'], 'ok', 'RTSP/1.0 200 OK'), STRICTER.NOT_HTTP);
  add('status line: ICE', ok(['Content-Length: 2'], 'ok', 'ICE/1.0 200 OK'), STRICTER.NOT_HTTP);
  add(
    'leading CRLF before the status line',
    CRLF + ok(['Content-Length: 2'], 'ok'),
    STRICTER.RESPONSE_LEADING_CRLF,
  );

  // ---- fields ----
  for (const c of NAME_BYTES_INVALID)
    add(`field name with ${JSON.stringify(c)}`, ok([`X${c}Y: v`, 'Content-Length: 0']));
  for (const c of VALUE_CONTROLS)
    add(`value with control 0x${c.charCodeAt(0).toString(16)}`, ok([`X-A: a${c}b`, 'Content-Length: 0']));
  add('obs-fold', ok(['X-A: a', ' b', 'Content-Length: 0']));
  add('space before colon', ok(['X-A : a', 'Content-Length: 0']));
  add('space before colon on Content-Length', ok(['Content-Length : 2'], 'ok'));
  add('obs-text value', ok(['X-A: \xe9\xff', 'Content-Length: 0']));
  add('OWS around a value', ok(['X-A:  a b \t', 'Content-Length: 0']));
  add('empty value', ok(['X-A:', 'Content-Length: 0']));
  add('Set-Cookie twice', ok(['Set-Cookie: a=1', 'Set-Cookie: b=2', 'Content-Length: 0']));

  // ---- framing ----
  add('Content-Length', ok([CL('hello')], 'hello'));
  add('Content-Length 0', ok(['Content-Length: 0']));
  add('Content-Length shorter than what follows', ok(['Content-Length: 2'], 'hello'));
  add('Content-Length longer than what follows', ok(['Content-Length: 9'], 'hello'));
  // Were read with the HTAB as OWS (RFC 9110); llhttp reads it as part of these values.
  add('Content-Length 5 then HTAB', ok(['Content-Length: 5\t'], 'hello'), STRICTER.CONTENT_LENGTH_HTAB);
  llhttpVaries(out, 'Content-Length 5 then HTAB');
  add(
    'Transfer-Encoding "chunked" then HTAB',
    ok(['Transfer-Encoding: chunked\t'], `5${CRLF}hello${CRLF}${end0}`),
    STRICTER.RESPONSE_TE_NOT_CHUNKED,
  );
  add(
    'Connection "close" then HTAB',
    ok(['Connection: close\t', 'Content-Length: 5'], 'hello'),
    STRICTER.CONNECTION_HTAB,
  );
  for (const v of ['+5', '-5', '0x5', '5 5', '5,5', '5, 5', '', 'five', '18446744073709551621'])
    add(`Content-Length ${JSON.stringify(v)}`, ok([`Content-Length: ${v}`], 'hello'));
  add('two different Content-Length', ok(['Content-Length: 5', 'Content-Length: 2'], 'hello'));
  // Was read (a repeated, equal length was taken once); llhttp, undici and nginx refuse it.
  add('two equal Content-Length', ok(['Content-Length: 5', 'Content-Length: 5'], 'hello'));
  add('no framing: until close', ok([], 'all of this'));
  add('HTTP/1.0 until close', ok([], 'all of this', 'HTTP/1.0 200 OK'));
  const body = ch('hello') + ch(' world') + end0;
  add('chunked', ok(['Transfer-Encoding: chunked'], body));
  add(
    'chunked with trailers',
    ok(['Transfer-Encoding: chunked', 'Trailer: X-Sum'], `${ch('ab')}0${CRLF}X-Sum: 3${CRLF}${CRLF}`),
  );
  add('chunked then bytes after', ok(['Transfer-Encoding: chunked'], `${body}EXTRA`));
  add('CL and TE', ok(['Content-Length: 5', 'Transfer-Encoding: chunked'], body));
  add('TE and CL', ok(['Transfer-Encoding: chunked', 'Content-Length: 5'], body));
  // Was read as chunked; llhttp reads it until the close (chunked is not the final coding).
  for (const te of ['chunked,', ', chunked'])
    add(
      `Transfer-Encoding ${JSON.stringify(te)}`,
      ok([`Transfer-Encoding: ${te}`], body),
      STRICTER.RESPONSE_TE_NOT_CHUNKED,
    );
  for (const te of ['gzip', 'gzip, chunked', 'chunked, gzip', 'identity', 'xchunked'])
    add(
      `Transfer-Encoding ${JSON.stringify(te)}`,
      ok([`Transfer-Encoding: ${te}`], body),
      STRICTER.RESPONSE_TE_NOT_CHUNKED,
    );
  add(
    'two Transfer-Encoding: chunked',
    ok(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], body),
    STRICTER.TE_REPEATED,
  );
  add('Transfer-Encoding in HTTP/1.0', ok(['Transfer-Encoding: chunked'], body, 'HTTP/1.0 200 OK'));
  for (const [name, b, why] of CHUNKED_BODIES)
    add(`chunked: ${name}`, ok(['Transfer-Encoding: chunked'], b), why);
  // Was read as a plain trailer; llhttp refuses it.
  add(
    'chunked: Content-Length as a trailer',
    ok(['Transfer-Encoding: chunked'], `0${CRLF}Content-Length: 5${CRLF}${CRLF}`),
  );
  for (const t of ['Transfer-Encoding: chunked', 'Connection: close'])
    add(
      `chunked: ${t} as a trailer`,
      ok(['Transfer-Encoding: chunked'], `0${CRLF}${t}${CRLF}${CRLF}`),
      STRICTER.TRAILER_FIELDS,
    );

  // ---- bodiless responses, 1xx ----
  add('HEAD with Content-Length', ok(['Content-Length: 5']), undefined, true);
  add('HEAD with chunked', ok(['Transfer-Encoding: chunked']), undefined, true);
  add('204 with Content-Length and bytes', ok(['Content-Length: 5'], 'hello', 'HTTP/1.1 204 No Content'));
  add('304 with Transfer-Encoding', ok(['Transfer-Encoding: chunked'], '', 'HTTP/1.1 304 Not Modified'));
  // Were read (no body, so framing unchecked); llhttp refuses both fields together whatever the status.
  const clte = ['Content-Length: 5', 'Transfer-Encoding: chunked'];
  add('HEAD with Content-Length and Transfer-Encoding', ok(clte), undefined, true);
  add('HEAD with Transfer-Encoding and Content-Length', ok([clte[1]!, clte[0]!]), undefined, true);
  add('204 with Content-Length and Transfer-Encoding', ok(clte, '', 'HTTP/1.1 204 No Content'));
  add('304 with Content-Length and Transfer-Encoding', ok(clte, '', 'HTTP/1.1 304 Not Modified'));
  add(
    '100 with Content-Length and Transfer-Encoding',
    message('HTTP/1.1 100 Continue', clte) + ok([CL('x')], 'x'),
  );
  add('HEAD with Transfer-Encoding gzip', ok(['Transfer-Encoding: gzip']), undefined, true);
  // Were read (no body, so the coding unchecked); llhttp 9.4 (Node 24) refuses an empty coding.
  add('HEAD with an empty Transfer-Encoding', ok(['Transfer-Encoding:']), STRICTER.TE_EMPTY, true);
  add(
    '204 with an empty Transfer-Encoding',
    ok(['Transfer-Encoding: '], '', 'HTTP/1.1 204 No Content'),
    STRICTER.TE_EMPTY,
  );
  llhttpVaries(out, 'HEAD with an empty Transfer-Encoding');
  llhttpVaries(out, '204 with an empty Transfer-Encoding');
  add('HEAD with two Content-Length', ok(['Content-Length: 5', 'Content-Length: 5']), undefined, true);
  add('100 then 200', message('HTTP/1.1 100 Continue', []) + ok([CL('x')], 'x'));
  add(
    '103 with Link then 200',
    message('HTTP/1.1 103 Early Hints', ['Link: </a>; rel=preload']) + ok([CL('x')], 'x'),
  );
  add(
    '102, 100, 103 then 200',
    message('HTTP/1.1 102 Processing', []) +
      message('HTTP/1.1 100 Continue', []) +
      message('HTTP/1.1 103 Early', []) +
      ok([CL('x')], 'x'),
  );
  // Were read, then the final response after them; llhttp refuses what follows a 1xx that ends
  // its connection (Connection: close, or HTTP/1.0 without keep-alive).
  add(
    '100 with Connection: close then 200',
    message('HTTP/1.1 100 Continue', ['Connection: close']) + ok([CL('x')], 'x'),
    STRICTER.CLOSING_1XX,
  );
  add(
    'HTTP/1.0 103 then 200',
    message('HTTP/1.0 103 Early Hints', ['Link: </a>']) + ok([CL('x')], 'x'),
    STRICTER.CLOSING_1XX,
  );
  add(
    'HTTP/1.0 100 keep-alive then 200',
    message('HTTP/1.0 100 Continue', ['Connection: keep-alive']) + ok([CL('x')], 'x'),
  );
  add('1xx with a bad field', message('HTTP/1.1 100 Continue', ['X : y']) + ok([CL('x')], 'x'));
  add(
    '101 to a request that asked no upgrade',
    message('HTTP/1.1 101 Switching Protocols', ['Upgrade: websocket', 'Connection: Upgrade']),
  );
  add(
    '101 naming no upgrade',
    message('HTTP/1.1 101 Switching Protocols', ['Content-Length: 0']),
    STRICTER.UNEXPECTED_101,
  );
  add('a head cut short', 'HTTP/1.1 200 OK\r\nContent-Le');
  add(
    'a response of 600 fields',
    ok([...Array.from({ length: 600 }, (_, i) => `X-${i}: ${i}`), 'Content-Length: 0']),
    STRICTER.OVER_LIMITS,
  );
  return out;
}
