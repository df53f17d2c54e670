/**
 * Node's HTTP/1.1 parser (llhttp, strict: `insecureHTTPParser: false`) as an oracle, through its
 * public API only: requests are written as raw bytes over a socket to a `node:http` server on
 * 127.0.0.1 and what its 'request' events carry is recorded (or its 'clientError'); responses are
 * written by a raw `net` server to an `http.request` and what its 'information' and 'response'
 * events carry is recorded (or its 'error'). Each reading has the shape of Fulcrum's
 * (http1-readers.ts), so that the two can be compared.
 *
 * Node's own checks above llhttp are turned off where they would hide llhttp's verdict: a missing
 * Host is not answered 400 (`requireHostHeader: false`), an unknown Expect is not answered 417,
 * CONNECT is recorded as a request. The head size limit is 64 KiB, above Fulcrum's, so that only
 * syntax makes llhttp refuse.
 */
import { createServer as createHttpServer, type IncomingMessage, request, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import type { Reading, ReadMessage } from './http1-readers.ts';

const LLHTTP_MAX_HEADER_BYTES = 65536;

function messageOf(m: IncomingMessage, method: string, target: string): ReadMessage {
  return {
    method,
    target,
    status: m.statusCode ?? 0,
    reason: m.statusMessage ?? '',
    version: m.httpVersion,
    headers: m.rawHeaders,
    body: '',
    trailers: [],
    complete: false,
  };
}

/** Collect a message's body and trailers into `msg`; `ended` runs once it was read whole. */
function collect(m: IncomingMessage, msg: ReadMessage, ended?: () => void): void {
  m.on('data', (c: Buffer) => {
    msg.body += c.toString('latin1');
  });
  m.on('end', () => {
    msg.complete = true;
    msg.trailers = m.rawTrailers;
    ended?.();
  });
  m.on('error', () => {});
}

/**
 * Node reports no parse error in the body of a request that asks to upgrade (Connection: upgrade
 * and Upgrade; it hands such a connection over without an 'upgrade' listener too): the request
 * just never ends, even once the input has. That is llhttp refusing it, and is recorded so.
 */
function silentUpgrade(r: Reading): void {
  const last = r.messages[r.messages.length - 1];
  if (last === undefined || last.complete || r.refused !== null) return;
  const h = last.headers;
  let connectionUpgrade = false;
  let upgrade = false;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const name = h[i]!.toLowerCase();
    if (name === 'upgrade') upgrade = true;
    else if (name === 'connection' && /(^|,)\s*upgrade\s*(,|$)/i.test(h[i + 1]!)) connectionUpgrade = true;
  }
  if (upgrade && connectionUpgrade) r.refused = 'unreported (the body of an upgrade request)';
}

interface Pending {
  reading: Reading;
  resolve: (r: Reading) => void;
}

/** A node:http server reading one connection's bytes per `read`. One read at a time. */
export class LlhttpRequestOracle {
  private readonly server: Server;
  private port = 0;
  private cur: Pending | null = null;

  private constructor() {
    const server = createHttpServer({
      insecureHTTPParser: false,
      maxHeaderSize: LLHTTP_MAX_HEADER_BYTES,
      requireHostHeader: false,
    });
    this.server = server;
    const onRequest = (req: IncomingMessage, res: import('node:http').ServerResponse): void => {
      const cur = this.cur;
      if (cur === null) return;
      const msg = messageOf(req, req.method ?? '', req.url ?? '');
      cur.reading.messages.push(msg);
      collect(req, msg, () => res.end());
    };
    server.on('request', onRequest);
    // Node answers these itself unless told otherwise: hand them over as plain requests.
    server.on('checkContinue', onRequest);
    server.on('checkExpectation', onRequest);
    server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const msg = messageOf(req, req.method ?? '', req.url ?? '');
      msg.complete = true;
      this.cur?.reading.messages.push(msg);
      socket.destroy();
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      const cur = this.cur;
      // End of input inside a message is not a refusal of its bytes: Fulcrum would wait for more.
      if (cur !== null && err.code !== 'HPE_INVALID_EOF_STATE') cur.reading.refused ??= err.code ?? 'error';
      // After the events of this read (a body's last data is still on its way to 'data').
      setImmediate(() => socket.destroy());
    });
    server.on('connection', (socket: Socket) => {
      socket.on('close', () => {
        const cur = this.cur;
        this.cur = null;
        if (cur !== null)
          setImmediate(() => {
            silentUpgrade(cur.reading);
            cur.resolve(cur.reading);
          });
      });
    });
  }

  static async start(): Promise<LlhttpRequestOracle> {
    const o = new LlhttpRequestOracle();
    await new Promise<void>((resolve) => o.server.listen(0, '127.0.0.1', resolve));
    o.port = (o.server.address() as AddressInfo).port;
    return o;
  }

  /** What llhttp reads of `bytes` sent on one connection, then its end. */
  read(bytes: Buffer): Promise<Reading> {
    if (this.cur !== null) throw new Error('one read at a time');
    return new Promise((resolve, reject) => {
      this.cur = { reading: { messages: [], refused: null, closed: false }, resolve };
      const c = connect(this.port, '127.0.0.1', () => c.end(bytes));
      c.on('data', () => {});
      c.on('error', (err: NodeJS.ErrnoException) => {
        // The server may reset a connection it refused; anything else is the harness failing.
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A raw server answering each request with given bytes, read by http.request. One read at a time. */
export class LlhttpResponseOracle {
  private readonly server;
  private port = 0;
  private bytes: Buffer = Buffer.alloc(0);

  private constructor() {
    this.server = createNetServer((s) => {
      s.on('error', () => {});
      // After the request, so that the client is waiting for the response.
      s.once('data', () => s.end(this.bytes));
    });
  }

  static async start(): Promise<LlhttpResponseOracle> {
    const o = new LlhttpResponseOracle();
    await new Promise<void>((resolve) => o.server.listen(0, '127.0.0.1', resolve));
    o.port = (o.server.address() as AddressInfo).port;
    return o;
  }

  /** What llhttp reads of `bytes` answering a GET (a HEAD when `headOnly`), then the close. */
  read(bytes: Buffer, headOnly: boolean): Promise<Reading> {
    this.bytes = bytes;
    return new Promise((resolve) => {
      const reading: Reading = { messages: [], refused: null, closed: true };
      let final: ReadMessage | null = null;
      let cut = false;
      const req = request({
        host: '127.0.0.1',
        port: this.port,
        method: headOnly ? 'HEAD' : 'GET',
        path: '/',
        agent: false,
        insecureHTTPParser: false,
        maxHeaderSize: LLHTTP_MAX_HEADER_BYTES,
      });
      req.on('information', (info) => {
        reading.messages.push({
          method: '',
          target: '',
          status: info.statusCode,
          reason: info.statusMessage,
          version: info.httpVersion,
          headers: info.rawHeaders,
          body: '',
          trailers: [],
          complete: true,
        });
      });
      req.on('response', (res: IncomingMessage) => {
        final = messageOf(res, '', '');
        reading.messages.push(final);
        collect(res, final);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // A parse error; a connection closed early (ECONNRESET) only cuts the message short.
        if (err.code?.startsWith('HPE_')) reading.refused ??= err.code;
        else cut = true;
      });
      req.on('close', () =>
        setImmediate(() => {
          // What follows a complete response is not part of it (Fulcrum drops the connection).
          if (final?.complete) reading.refused = null;
          // A 101 to a request that asked no upgrade: Node drops the connection, reading nothing.
          else if (final === null && reading.refused === null && !cut) reading.refused = 'no-response';
          resolve(reading);
        }),
      );
      req.end();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Both oracles, started and closed together: what llhttp reads of a request or a response. */
export class LlhttpOracles {
  private readonly requests: LlhttpRequestOracle;
  private readonly responses: LlhttpResponseOracle;

  private constructor(requests: LlhttpRequestOracle, responses: LlhttpResponseOracle) {
    this.requests = requests;
    this.responses = responses;
  }

  static async start(): Promise<LlhttpOracles> {
    return new LlhttpOracles(await LlhttpRequestOracle.start(), await LlhttpResponseOracle.start());
  }

  /** `bytes` as a client's requests, or (`response`) as a target's answer to a GET or a HEAD. */
  read(bytes: Buffer, response: boolean, headOnly = false): Promise<Reading> {
    return response ? this.responses.read(bytes, headOnly) : this.requests.read(bytes);
  }

  async close(): Promise<void> {
    await this.requests.close();
    await this.responses.close();
  }
}
