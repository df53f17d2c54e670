/**
 * A corpus of HTTP/1.1 request and response messages, valid and hostile, generated here (no
 * external data) from RFC 9112's grammar and from the request-smuggling literature: CL.TE, TE.CL
 * and TE.TE obfuscations (PortSwigger's "HTTP Desync Attacks", 2019; Kettle's list of
 * Transfer-Encoding variants), obs-fold, bare LF and CR, NUL and other controls, whitespace before
 * a colon, chunk-size overflow, chunk extensions and trailers, HTTP/0.9 and 1.2, the request-target
 * forms, size limits. The differential test (test/unit/http1/differential.test.ts) runs each case
 * through Fulcrum's parser and through llhttp; the fuzzer (scripts/fuzz-http1.ts) mutates them.
 * This file holds the requests and what both corpora share; the responses are in
 * http1-corpus-responses.ts.
 *
 * A case Fulcrum refuses while llhttp accepts it names why (`stricter`): these are Fulcrum's
 * deliberate choices, documented in docs/http1-parser.md, and the test checks the list is exact.
 */
import { METHODS } from 'node:http';

export interface Http1Case {
  /** Unique, says what the case is. */
  readonly name: string;
  readonly bytes: Buffer;
  /** Fulcrum refuses what llhttp accepts, for this reason. */
  readonly stricter?: string;
  /** Responses: the answer to a HEAD request. */
  readonly headOnly?: boolean;
  /**
   * llhttp's verdict differs between the versions of the Node releases Fulcrum runs on (Node 20:
   * llhttp 9.3, Node 24: 9.4): agreement and the stricter verdict (`stricter` says why) both pass.
   */
  readonly llhttpVaries?: boolean;
}

/** Mark the case named `name` in `cases` as one llhttp's versions disagree on. */
export function llhttpVaries(cases: Http1Case[], name: string): void {
  const i = cases.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`no case ${name}`);
  cases[i] = { ...cases[i]!, llhttpVaries: true };
}

/** Fulcrum's deliberate refusals of what llhttp accepts (see docs/http1-parser.md). */
export const STRICTER = {
  HOST_MISSING: 'HTTP/1.1 without Host (RFC 9112 §3.2: 400; Node checks it above llhttp)',
  HOST_REPEATED: 'a repeated Host (RFC 9112 §3.2: 400; llhttp leaves Host to the application)',
  HOST_INVALID: 'a Host that is not host[:port] (RFC 9112 §3.2: 400)',
  CONNECT: 'CONNECT: Fulcrum opens no tunnels (nginx refuses it too)',
  TE_NOT_CHUNKED:
    'a Transfer-Encoding other than exactly chunked (a coding before chunked would be re-framed and lost; RFC 9112 §6.3 lets a server refuse what it does not understand)',
  TE_REPEATED: 'several Transfer-Encoding fields (one reader may join them, another take one)',
  TE_HTTP10: 'Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: faulty framing, close)',
  CHUNK_LINE: 'a chunk-size line over 4 KiB (chunk extensions bounded, CVE-2024-22019)',
  OVER_LIMITS: "over the listener's limits (431, 414); llhttp's limit is set higher here",
  VERSION: 'a version other than HTTP/1.0 and HTTP/1.1 (llhttp reads 0.9 and 2.0 heads)',
  REQUEST_LINE_SPACES: 'more than one SP between the parts of the request line (RFC 9112 §3: exactly one)',
  CONTENT_LENGTH_DIGITS: 'a Content-Length of 16 digits or more (past what a double counts exactly)',
  CHUNK_SIZE_DIGITS: 'a chunk size of 14 hex digits or more, leading zeros included (2^52 and over)',
  REASON_CONTROLS: 'a control (NUL, DEL...) in the reason phrase (RFC 9112 §4: HTAB, SP, VCHAR, obs-text)',
  NOT_HTTP: 'an RTSP or ICE status line (llhttp speaks those too)',
  TRAILER_FIELDS:
    'Connection or Transfer-Encoding as a trailer (RFC 9110 §6.5.1: not allowed there; llhttp acts on Connection: close, and refuses Transfer-Encoding in a request)',
  WEBSOCKET_BODY:
    'a WebSocket handshake with a body (RFC 6455 §4.1: none; the tunnel would start at the end of the head for the connection, of the body for llhttp and nginx)',
  TARGET_FORM:
    'a target of * and more, or an absolute URI with an empty authority (RFC 9112 §3.2 forms; RFC 9110 §4.2.1: an empty host is invalid)',
  CHUNK_EXT:
    'a chunk extension off RFC 9112 §7.1.1 that llhttp lets through: an empty name or value (";=v", ";n=", ";;n") or a token run into a quoted string (";n=v"q"")',
  UNEXPECTED_101:
    'a 101 to a request that asked no upgrade (the pool answers 502; llhttp reads it as a response when it names no upgrade)',
  STATUS_LINE_BARE_CR:
    "a bare CR ending a status line (RFC 9112 §2.2: invalid; llhttp 9.3, in Node 20, takes it as the line's end)",
  REQUEST_LEADING_BARE:
    'a bare CR or LF before a request line (RFC 9112 §2.2 lets a server skip empty lines, CRLF; llhttp skips any CR and LF)',
  CLOSING_1XX:
    'a 1xx that ends its connection (Connection: close, HTTP/1.0): refused itself, where llhttp refuses the response after it',
  CONNECTION_HTAB:
    'an HTAB in a Connection value (OWS to RFC 9110, but part of the token to llhttp: "close\t" is no close to it)',
  TRAILER_LIMITS: 'more than 100 trailer fields (the trailer section is bounded as a head is)',
  CONTENT_LENGTH_HTAB:
    'an HTAB after a Content-Length value (llhttp 9.3, in Node 20, refuses it; 9.4, in Node 24, takes it)',
  TE_EMPTY:
    'an empty Transfer-Encoding in a response without a body (llhttp 9.3, in Node 20, takes it; 9.4, in Node 24, refuses it)',
  RESPONSE_LEADING_CRLF:
    'empty lines before a status line (RFC 9112 §2.2 tolerates them before a request only)',
  STATUS_BELOW_100: 'a status code below 100 (RFC 9110 §15: 100-599; a 3-digit 0xx is no status)',
  RESPONSE_TE_NOT_CHUNKED:
    'a response Transfer-Encoding other than exactly chunked (llhttp reads until close; Fulcrum answers 502 rather than re-frame a coding it cannot see the end of)',
} as const;

export const CRLF = '\r\n';
/** Follows every request case: where each parser finds it shows where it ended the case's message. */
export const SENTINEL = `GET /sentinel HTTP/1.1${CRLF}Host: sentinel${CRLF}${CRLF}`;

/** `start CRLF fields CRLF CRLF body`, each field a line. */
export function message(start: string, fields: readonly string[], body = ''): string {
  let s = start + CRLF;
  for (const f of fields) s += f + CRLF;
  return s + CRLF + body;
}

export function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Every byte that may not appear in a field name, as the corpus tries them. */
export const NAME_BYTES_INVALID = [...'"(),/:;<=>?@[\\]{} \t', '\x00', '\x01', '\x7f', '\x80', '\xff'];
/** Bytes a field value may not hold (controls but HTAB), and obs-text it may. */
export const VALUE_CONTROLS = [
  ...Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).filter((c) => c !== '\t'),
  '\x7f',
];

export const ch = (data: string): string => `${data.length.toString(16)}${CRLF}${data}${CRLF}`;
export const end0 = `0${CRLF}${CRLF}`;

/** Chunked bodies, good and bad, for requests and responses alike. */
export const CHUNKED_BODIES: readonly (readonly [string, string, string?])[] = [
  ['sizes in upper case hex', `A${CRLF}0123456789${CRLF}${end0}`],
  ['size with leading zeros', `0005${CRLF}hello${CRLF}000${CRLF}${CRLF}`],
  ['size of 13 digits', `0000000000005${CRLF}hello${CRLF}${end0}`],
  ['size of 16 digits, 5', `0000000000000005${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_SIZE_DIGITS],
  ['size of 16 digits', `${'f'.repeat(16)}${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_SIZE_DIGITS],
  ['size of 2^53', `20000000000000${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_SIZE_DIGITS],
  ['extension', `5;ext${CRLF}hello${CRLF}${end0}`],
  ['extension with value', `5;a=b;c="d e"${CRLF}hello${CRLF}0;last${CRLF}${CRLF}`],
  ['extension with OWS', `5 ;a=b${CRLF}hello${CRLF}${end0}`],
  ['extension with a bare LF', `5;a\nb${CRLF}hello${CRLF}${end0}`],
  ['extension with NUL', `5;a\x00${CRLF}hello${CRLF}${end0}`],
  ['extension with a bare CR', `5;a\rb${CRLF}hello${CRLF}${end0}`],
  ['extension of 5 KiB', `5;${'a'.repeat(5000)}${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_LINE],
  ['extension of 20 KiB', `5;${'a'.repeat(20000)}${CRLF}hello${CRLF}${end0}`],
  // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ),
  // read as llhttp reads it, without whitespace. The invalid ones were read as valid extensions.
  ...[
    ';a=""',
    ';a="b c"',
    ';a="b\\"c"',
    ';a="\t\xe9;@"',
    ';a="\\\\"',
    ';a;b',
    ';a=b;c=d',
    ";!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
  ].map((e): [string, string] => [`extension ${JSON.stringify(e)}`, `5${e}${CRLF}hello${CRLF}${end0}`]),
  ...[
    ';',
    ';;',
    '; a',
    ';a =b',
    ';a= b',
    ';a ',
    ';a\t',
    ';a=b;',
    ';a=b c',
    ';a=b\t',
    ';a=b"',
    ';a="b',
    ';a="b"c',
    ';a"',
    ';\xe9',
    ';a=\xe9',
    ';a=(b)',
    ';a=b=c',
    ';a==b',
    ';a=\\b',
    ';a@b',
    ';a,b',
    ';a/b',
    ';a:b',
    ';a=b/c',
    ';a=@',
    ';a="\x01"',
    ';a="\\\x01"',
  ].map((e): [string, string] => [`extension ${JSON.stringify(e)}`, `5${e}${CRLF}hello${CRLF}${end0}`]),
  ['extension ";a="', `5;a=${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_EXT],
  ['extension ";=b"', `5;=b${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_EXT],
  ['extension ";;a"', `5;;a${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_EXT],
  ['extension ";a;;b"', `5;a;;b${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_EXT],
  ['extension ";a=b"c""', `5;a=b"c"${CRLF}hello${CRLF}${end0}`, STRICTER.CHUNK_EXT],
  ['size with trailing space', `5 ${CRLF}hello${CRLF}${end0}`],
  ['size with leading space', ` 5${CRLF}hello${CRLF}${end0}`],
  ['size with a sign', `+5${CRLF}hello${CRLF}${end0}`],
  ['negative size', `-5${CRLF}hello${CRLF}${end0}`],
  ['0x size', `0x5${CRLF}hello${CRLF}${end0}`],
  ['size with a letter', `5g${CRLF}hello${CRLF}${end0}`],
  ['empty size', `${CRLF}hello${CRLF}${end0}`],
  ['size overflowing 2^64 to 5', `10000000000000005${CRLF}hello${CRLF}${end0}`],
  ['size line ending in a bare LF', `5\nhello${CRLF}${end0}`],
  ['data not followed by CRLF', `5${CRLF}helloXX${end0}`],
  ['data followed by a bare LF', `5${CRLF}hello\n${end0}`],
  ['data longer than its size', `3${CRLF}hello${CRLF}${end0}`],
  ['data shorter than its size', `7${CRLF}hello${CRLF}${end0}`],
  ['last chunk without the empty line', `5${CRLF}hello${CRLF}0${CRLF}`],
  ['last chunk then bare LF', `0${CRLF}\n`],
  ['trailer field', `5${CRLF}hello${CRLF}0${CRLF}X-Sum: 1${CRLF}${CRLF}`],
  ['two trailer fields', `0${CRLF}A: 1${CRLF}B: 2${CRLF}${CRLF}`],
  ['trailer with obs-fold', `0${CRLF}A: 1${CRLF} 2${CRLF}${CRLF}`],
  ['trailer with a space before the colon', `0${CRLF}A : 1${CRLF}${CRLF}`],
  ['trailer with NUL', `0${CRLF}A: 1\x00${CRLF}${CRLF}`],
  ['trailer without a colon', `0${CRLF}A${CRLF}${CRLF}`],
  ['trailer with a bare LF', `0${CRLF}A: 1\n${CRLF}`],
  ['Host as a trailer', `0${CRLF}Host: other${CRLF}${CRLF}`],
  [
    'Connection: keep-alive as a trailer',
    `0${CRLF}Connection: keep-alive${CRLF}${CRLF}`,
    STRICTER.TRAILER_FIELDS,
  ],
  ['many small chunks', `${ch('a').repeat(50)}${end0}`],
  ['chunk of binary bytes', `${ch('\x00\r\n\xff')}${end0}`],
  ['100 trailer fields', `0${CRLF}${'T: 1\r\n'.repeat(100)}${CRLF}`],
  ['101 trailer fields', `0${CRLF}${'T: 1\r\n'.repeat(101)}${CRLF}`, STRICTER.TRAILER_LIMITS],
  ['cut short in the size', `5`],
  ['cut short in the data', `5${CRLF}hel`],
  ['cut short in the trailers', `0${CRLF}A: 1${CRLF}`],
];

export function requestCorpus(): Http1Case[] {
  const out: Http1Case[] = [];
  const add = (name: string, s: string, stricter?: string, sentinel = true): void => {
    out.push({ name, bytes: latin1(sentinel ? s + SENTINEL : s), ...(stricter ? { stricter } : {}) });
  };
  const get = (fields: readonly string[], start = 'GET / HTTP/1.1', body = ''): string =>
    message(start, fields, body);
  const H = 'Host: example.com';

  // ---- valid heads: methods, targets, versions ----
  // Every method Node's parser knows (its public list), CONNECT aside.
  for (const m of METHODS) if (m !== 'CONNECT') add(`method ${m}`, get([H], `${m} / HTTP/1.1`));
  for (const m of ['POST', 'PUT', 'PATCH'])
    add(`method ${m} with a body`, get([H, 'Content-Length: 2'], `${m} /x HTTP/1.1`, 'ok'));
  for (const t of [
    '/',
    '/a/b/c?x=1&y=%20z#frag',
    "/~!$&'()*+,;=:@-._",
    '/%00%ff',
    '/a?b=c?d/e',
    'http://example.com/abs?q',
    'https://user@example.com:8443/p',
    '//double/slash',
    '/\\back\\slash',
    '/"quote"<angle>{brace}|pipe^`',
    'HTTP://EXAMPLE.COM',
    'ws://a/x',
    'http://a?',
    'http://[::1]:80/x',
    "http://a!$&'()*+,;=-._~%:@[]b/",
  ])
    add(`target ${t}`, get([H], `GET ${t} HTTP/1.1`));
  // Were read as requests: none of RFC 9112's target forms, and llhttp refuses them.
  for (const t of [
    'a',
    '.',
    'el',
    '?x',
    '#x',
    'mailto:x',
    'a:b',
    'http:foo',
    'http:/a',
    'h2c://x',
    '1http://x',
  ])
    add(`target ${t}`, get([H], `GET ${t} HTTP/1.1`));
  for (const t of [
    'a+b://x',
    'ht%74p://a',
    'http://a#',
    'http://a\\b/',
    'http://a"b/',
    'http://a{b/',
    'http://a|b/',
  ])
    add(`target ${t}`, get([H], `GET ${t} HTTP/1.1`));
  for (const t of ['*x', '**', 'http://', 'http:///x', 'x://?'])
    add(`target ${t}`, get([H], `GET ${t} HTTP/1.1`), STRICTER.TARGET_FORM);
  add('asterisk-form OPTIONS', get([H], 'OPTIONS * HTTP/1.1'));
  add(
    'authority-form CONNECT',
    get(['Host: example.com:443'], 'CONNECT example.com:443 HTTP/1.1'),
    STRICTER.CONNECT,
  );
  add('HTTP/1.0 without Host', get([], 'GET / HTTP/1.0'));
  add('HTTP/1.0 keep-alive', get(['Connection: keep-alive'], 'GET / HTTP/1.0'));
  add('HTTP/1.0 with Host', get([H], 'GET / HTTP/1.0'));
  add('leading CRLF before the request line', CRLF + get([H]));
  add('two leading CRLFs', CRLF + CRLF + get([H]));
  add('a leading bare LF', `\n${get([H])}`, STRICTER.REQUEST_LEADING_BARE);
  add('a leading bare CR', `\r${get([H])}`, STRICTER.REQUEST_LEADING_BARE);
  add('bare LFs between requests', `${get([H])}\n\r\n\n`, STRICTER.REQUEST_LEADING_BARE);

  // ---- hostile start lines ----
  for (const [name, line] of [
    ['HTTP/1.2', 'GET / HTTP/1.2'],
    ['HTTP/1.10', 'GET / HTTP/1.10'],
    ['HTTP/11', 'GET / HTTP/11'],
    ['lower-case version', 'GET / http/1.1'],
    ['version without minor', 'GET / HTTP/1.'],
    ['trailing space after version', 'GET / HTTP/1.1 '],
    ['HTAB as separator', 'GET\t/\tHTTP/1.1'],
    ['leading space', ' GET / HTTP/1.1'],
    ['no target', 'GET HTTP/1.1'],
    ['empty method', ' / HTTP/1.1'],
    ['method with a slash', 'GE/T / HTTP/1.1'],
    ['method with a NUL', 'GE\x00T / HTTP/1.1'],
    ['target with a space', 'GET /a b HTTP/1.1'],
    ['target with NUL', 'GET /a\x00b HTTP/1.1'],
    ['target with HTAB', 'GET /a\tb HTTP/1.1'],
    ['target with DEL', 'GET /a\x7fb HTTP/1.1'],
    ['target with obs-text', 'GET /caf\xe9 HTTP/1.1'],
    ['target with a bare CR', 'GET /a\rb HTTP/1.1'],
    ['request line ending in CR CR', 'GET / HTTP/1.1\r'],
  ] as const)
    add(`request line: ${name}`, get([H], line));
  add('request line: HTTP/0.9 simple request', get([H], 'GET /'), STRICTER.VERSION);
  // Were read as requests: the parser took any token as a method; llhttp knows a list.
  for (const m of ['FOO', 'get', 'Get', 'GETS', 'PRI', 'BREW', 'M-SEARCHX'])
    add(`request line: method ${m}`, get([H], `${m} / HTTP/1.1`));
  add('request line: HTTP/2.0 as HTTP/1', get([H], 'GET / HTTP/2.0'), STRICTER.VERSION);
  add('request line: HTTP/0.9 with version', get([H], 'GET / HTTP/0.9'), STRICTER.VERSION);
  add('request line: two spaces after method', get([H], 'GET  / HTTP/1.1'), STRICTER.REQUEST_LINE_SPACES);
  add('request line: two spaces before version', get([H], 'GET /  HTTP/1.1'), STRICTER.REQUEST_LINE_SPACES);
  add('request line ending in bare LF', `GET / HTTP/1.1\n${H}${CRLF}${CRLF}`);
  add('every line ending in bare LF', `GET / HTTP/1.1\n${H}\n\n`);
  add('head ending in LF CRLF', `GET / HTTP/1.1${CRLF}${H}\n${CRLF}`);
  add('head ending in CRLF LF', `GET / HTTP/1.1${CRLF}${H}${CRLF}\n`);
  add('bare CR line end', `GET / HTTP/1.1\r${H}\r\r`);

  // ---- field lines ----
  for (const c of NAME_BYTES_INVALID) add(`field name with ${JSON.stringify(c)}`, get([H, `X${c}Y: v`]));
  add('field name of every tchar', get([H, "!#$%&'*+-.^_`|~09AZaz: v"]));
  add('space before colon', get([H, 'X-A : v']));
  add('HTAB before colon', get([H, 'X-A\t: v']));
  add('space before colon on Content-Length', get([H, 'Content-Length : 3'], 'POST / HTTP/1.1', 'abc'));
  add('empty field name', get([H, ': v']));
  add('no colon', get([H, 'X-A v']));
  add('obs-fold with SP', get([H, 'X-A: a', ' b']));
  add('obs-fold with HTAB', get([H, 'X-A: a', '\tb']));
  add(
    'obs-fold of Transfer-Encoding',
    get([H, 'Transfer-Encoding:', ' chunked'], 'POST / HTTP/1.1', `0${CRLF}${CRLF}`),
  );
  add('first field line folded', get([' X-A: a', H]));
  add('empty value', get([H, 'X-A:']));
  add('value of spaces', get([H, 'X-A:    ']));
  add('no space after colon', get([H, 'X-A:v']));
  add('OWS around a value', get([H, 'X-A: \t v w \t ']));
  add('obs-text in a value', get([H, 'X-A: caf\xe9 \x80\xff']));
  add('colon in a value', get([H, 'X-A: a:b::c']));
  add('many fields', get([H, ...Array.from({ length: 60 }, (_, i) => `X-${i}: ${i}`)]));
  add('case of names kept', get(['hOsT: example.com', 'X-MiXeD: v']));
  for (const c of VALUE_CONTROLS)
    add(`value with control 0x${c.charCodeAt(0).toString(16)}`, get([H, `X-A: a${c}b`]));
  add('value ending in a bare CR', get([H, 'X-A: a\r']));
  add(
    'value with a bare LF then a field',
    `GET / HTTP/1.1${CRLF}${H}${CRLF}X-A: a\nTransfer-Encoding: chunked${CRLF}${CRLF}`,
  );

  // ---- Host ----
  add('no Host in HTTP/1.1', get([]), STRICTER.HOST_MISSING);
  add('two Host fields', get([H, 'Host: other.com']), STRICTER.HOST_REPEATED);
  add('two equal Host fields', get([H, H]), STRICTER.HOST_REPEATED);
  for (const h of ['', 'a b', 'a/b', 'x:8o', '..', 'a@b', '[::1'])
    add(`Host ${JSON.stringify(h)}`, get([`Host: ${h}`]), STRICTER.HOST_INVALID);
  for (const h of [
    'example.com:8080',
    '[::1]:80',
    '127.0.0.1',
    'xn--bcher-kva.example',
    'a_b.example',
    'a,b',
  ])
    add(`Host ${h}`, get([`Host: ${h}`]));

  // ---- Content-Length ----
  const post = (fields: readonly string[], body: string): string =>
    get([H, ...fields], 'POST / HTTP/1.1', body);
  add('Content-Length 0', post(['Content-Length: 0'], ''));
  add('Content-Length 5', post(['Content-Length: 5'], 'hello'));
  add('Content-Length with leading zeros', post(['Content-Length: 0005'], 'hello'));
  add('Content-Length with OWS', post(['Content-Length:  5  '], 'hello'));
  add(
    'Content-Length shorter than what follows (the rest is the next request)',
    post(['Content-Length: 2'], `ok${SENTINEL}`),
  );
  add('Content-Length shorter than the body: the rest is no method', post(['Content-Length: 2'], 'hello'));
  for (const v of ['+5', '-5', '5.0', '0x5', '5 5', '5,5', '5, 5', 'five', '', '5a', '1e1', '\t'])
    add(`Content-Length ${JSON.stringify(v)}`, post([`Content-Length: ${v}`], 'hello'));
  add('Content-Length 2^53', post(['Content-Length: 9007199254740992'], 'x'), STRICTER.CONTENT_LENGTH_DIGITS);
  add('Content-Length of 15 digits', post(['Content-Length: 000000000000005'], 'hello'));
  add('Content-Length 2^64 + 5 (wraps to 5)', post(['Content-Length: 18446744073709551621'], 'hello'));
  add('Content-Length of 30 digits', post([`Content-Length: ${'9'.repeat(30)}`], 'x'));
  add('two equal Content-Length', post(['Content-Length: 5', 'Content-Length: 5'], 'hello'));
  add('two different Content-Length', post(['Content-Length: 5', 'Content-Length: 2'], 'hello'));
  add('Content-Length on GET', get([H, 'Content-Length: 3'], 'GET / HTTP/1.1', 'abc'));
  add('Content-Length on HTTP/1.0', get(['Content-Length: 3'], 'POST / HTTP/1.0', 'abc'));

  // ---- Transfer-Encoding and smuggling ----
  const body = ch('hello') + ch(' world') + end0;
  add('chunked', post(['Transfer-Encoding: chunked'], body));
  add('chunked, case', post(['Transfer-Encoding: ChUnKeD'], body));
  add('chunked with OWS', post(['Transfer-Encoding:   chunked  '], body));
  add('chunked, name case', post(['transfer-ENCODING: chunked'], body));
  const smuggled = `GET /admin HTTP/1.1${CRLF}Host: internal${CRLF}${CRLF}`;
  add('CL.TE', post(['Content-Length: 6', 'Transfer-Encoding: chunked'], `0${CRLF}${CRLF}G`));
  add(
    'TE.CL',
    post(['Transfer-Encoding: chunked', 'Content-Length: 4'], `5c${CRLF}${smuggled}${CRLF}${end0}`),
  );
  add(
    'CL.TE smuggling a request',
    post(['Content-Length: 40', 'Transfer-Encoding: chunked'], end0 + smuggled),
  );
  // llhttp refuses these as well.
  for (const te of [
    'chunked, chunked',
    'chunked, gzip',
    'chunked, identity',
    'chunked\x0b',
    'chunked\x0c',
    'chu\x00nked',
  ])
    add(`Transfer-Encoding ${JSON.stringify(te)}`, post([`Transfer-Encoding: ${te}`], body));
  // Were read as chunked (empty list elements skipped); llhttp refuses the first.
  add('Transfer-Encoding "chunked,"', post(['Transfer-Encoding: chunked,'], body));
  add('Transfer-Encoding ", chunked"', post(['Transfer-Encoding: , chunked'], body), STRICTER.TE_NOT_CHUNKED);
  for (const te of [
    'gzip, chunked',
    'identity, chunked',
    'gzip',
    'identity',
    'xchunked',
    'chunkedx',
    'chunked;q=1',
    '"chunked"',
    'chunk',
    'ch\xfcnked',
  ])
    add(
      `Transfer-Encoding ${JSON.stringify(te)}`,
      post([`Transfer-Encoding: ${te}`], body),
      STRICTER.TE_NOT_CHUNKED,
    );
  add('Transfer-Encoding with HTAB before the value', post(['Transfer-Encoding:\tchunked'], body));
  add('Content-Length with HTAB before the value', post(['Content-Length:\t5'], 'hello'));
  // Were read with the HTAB as OWS (RFC 9110); llhttp reads it as part of these values.
  const teTab = STRICTER.TE_NOT_CHUNKED;
  add('Transfer-Encoding "chunked" then HTAB', post(['Transfer-Encoding: chunked\t'], body), teTab);
  add('Transfer-Encoding "chunked" then SP HTAB SP', post(['Transfer-Encoding: chunked \t '], body), teTab);
  add('Content-Length 5 then HTAB', post(['Content-Length: 5\t'], 'hello'), STRICTER.CONTENT_LENGTH_HTAB);
  llhttpVaries(out, 'Content-Length 5 then HTAB');
  const kaTab = get(['Connection: keep-alive\t'], 'GET / HTTP/1.0');
  add('HTTP/1.0 Connection: keep-alive then HTAB', kaTab, STRICTER.CONNECTION_HTAB);
  add(
    'two Transfer-Encoding: chunked',
    post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], body),
  );
  add(
    'Transfer-Encoding gzip then chunked',
    post(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], body),
    STRICTER.TE_REPEATED,
  );
  add(
    'Transfer-Encoding chunked then identity',
    post(['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], body),
  );
  add(
    'Transfer-Encoding in HTTP/1.0',
    get(['Transfer-Encoding: chunked'], 'POST / HTTP/1.0', body),
    STRICTER.TE_HTTP10,
  );
  add('Transfer_Encoding (underscore)', post(['Transfer_Encoding: chunked', 'Content-Length: 3'], 'abc'));
  add('X: folded into Transfer-Encoding', post(['X: x', ' Transfer-Encoding: chunked'], body));
  add('Transfer-Encoding with NUL in the name', post(['Transfer-Encoding\x00: chunked'], body));
  add('Transfer-Encoding after a bare CR', post(['X: x\rTransfer-Encoding: chunked'], body));

  // ---- chunked bodies ----
  const chunked = (b: string): string => post(['Transfer-Encoding: chunked'], b);
  for (const [name, b, why] of CHUNKED_BODIES) add(`chunked: ${name}`, chunked(b), why);
  // Were read as plain trailers: llhttp refuses the first two and, after the third, the next request.
  add('chunked: Content-Length as a trailer', chunked(`0${CRLF}Content-Length: 5${CRLF}${CRLF}`));
  add('chunked: Transfer-Encoding as a trailer', chunked(`0${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}`));
  add(
    'chunked: Connection: close as a trailer',
    chunked(`0${CRLF}Connection: close${CRLF}${CRLF}`),
    STRICTER.TRAILER_FIELDS,
  );

  // ---- Connection, upgrade, Expect ----
  add('Connection: close', get([H, 'Connection: close']));
  add('Connection: CLOSE, keep-alive', get([H, 'Connection: CLOSE, keep-alive']));
  add('Connection: keep-alive, close in two fields', get([H, 'Connection: keep-alive', 'Connection: close']));
  add('Connection: closed (not close)', get([H, 'Connection: closed']));
  for (const v of ['close\t', 'upgrade\t', 'x\t, close', 'close, x\t'])
    add(
      `Connection ${JSON.stringify(v)}`,
      get([H, `Connection: ${v}`, 'Upgrade: websocket']),
      STRICTER.CONNECTION_HTAB,
    );
  add('Connection listing a field', get([H, 'Connection: x-a', 'X-A: 1']));
  add('HTTP/1.0 Connection: close', get(['Connection: close'], 'GET / HTTP/1.0'));
  add('HTTP/1.0 Connection: Keep-Alive, x', get(['Connection: Keep-Alive, x'], 'GET / HTTP/1.0'));
  add('WebSocket upgrade', get([H, 'Connection: Upgrade', 'Upgrade: websocket']), undefined, false);
  // Their bodies were taken as the tunnel's first bytes, where llhttp (and nginx) read a body.
  const wsBody = STRICTER.WEBSOCKET_BODY;
  const ws = [H, 'Connection: Upgrade', 'Upgrade: websocket'];
  add(
    'WebSocket upgrade with Content-Length',
    get([...ws, 'Content-Length: 3'], 'GET / HTTP/1.1', 'abc'),
    wsBody,
  );
  add(
    'WebSocket upgrade chunked',
    get([...ws, 'Transfer-Encoding: chunked'], 'GET / HTTP/1.1', `3${CRLF}abc${CRLF}${end0}`),
    wsBody,
  );
  add('WebSocket upgrade with Content-Length: 0', get([...ws, 'Content-Length: 0']), undefined, false);
  add(
    'upgrade to h2c with a body',
    get([H, 'Connection: Upgrade', 'Upgrade: h2c', 'Content-Length: 3'], 'POST / HTTP/1.1', 'abc'),
  );
  add(
    'h2c upgrade',
    get([
      H,
      'Connection: Upgrade, HTTP2-Settings',
      'Upgrade: h2c',
      'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA',
    ]),
  );
  add('Upgrade without Connection', get([H, 'Upgrade: websocket']));
  add('Expect: 100-continue', post(['Expect: 100-continue', 'Content-Length: 2'], 'ok'));
  add('Expect: something else', post(['Expect: magic', 'Content-Length: 2'], 'ok'));

  // ---- pipelining and trailing bytes ----
  add('pipelined requests', get([H]) + get([H], 'GET /2 HTTP/1.1') + post(['Content-Length: 1'], 'x'));
  add('a CRLF after a body', post(['Content-Length: 2'], `ok${CRLF}`));
  add('garbage after a request', get([H]) + 'garbage', undefined, false);
  add('a head cut short', `GET / HTTP/1.1${CRLF}${H}${CRLF}X-A: 1`, undefined, false);
  add('a body cut short', post(['Content-Length: 10'], 'abc'), undefined, false);
  add('a chunked body cut short', chunked(`5${CRLF}hel`), undefined, false);

  // ---- limits ----
  // The parser takes max_headers + 1 fields, so that the exchange answers 431 with its own code.
  add('101 fields', get([H, ...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)]));
  add('102 fields', get([H, ...Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}`)]), STRICTER.OVER_LIMITS);
  add('target of 8 KiB', get([H], `GET /${'a'.repeat(8192)} HTTP/1.1`), STRICTER.OVER_LIMITS);
  add('head of 33 KiB', get([H, `X-Big: ${'b'.repeat(33 * 1024)}`]), STRICTER.OVER_LIMITS);
  add('head of 30 KiB', get([H, `X-Big: ${'b'.repeat(30 * 1024)}`]));
  return out;
}
