/** Raw-socket HTTP for malformed input: send exact bytes, collect everything until close or idle. */
import { connect } from 'node:net';

export interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** Status codes of every response found in the bytes, in order. */
  statuses: number[];
  /** Whether the server closed the connection (vs. the idle timer firing). */
  closed: boolean;
}

export function rawRequest(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  opts: { idleMs?: number; gapMs?: number } = {},
): Promise<RawResult> {
  const idleMs = opts.idleMs ?? 1000;
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      arm();
    });
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') {
        closed = true;
        finish();
      } else reject(err);
    });
    sock.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) {
        sock.write(p);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      arm();
    });
  });
}
