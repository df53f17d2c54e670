/**
 * An upstream in its own process, so that a test can kill it for real (`kill -9`: the kernel
 * resets its connections and refuses new ones, as when a target crashes). It answers every request
 * with its name after `delayMs` and counts what it served on stdout, one line per request.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ProcessUpstream {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  readonly proc: ChildProcess;
  /** Requests answered so far (as reported by the process). */
  served(): number;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
}

const SERVER = `
const http = require('node:http');
const [name, delay] = process.argv.slice(1);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.end(name);
    process.stdout.write('.');
  }, Number(delay)));
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write('port=' + server.address().port + '\\n'));
`;

export function startProcessUpstream(name: string, delayMs: number): Promise<ProcessUpstream> {
  const proc = spawn(process.execPath, ['-e', SERVER, name, String(delayMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let dots = 0;
  const gone = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      if (out !== null && !out.includes('\n')) {
        out += s;
        const m = /port=(\d+)\n/.exec(out);
        if (m === null) return;
        const port = Number(m[1]);
        dots += out.slice(out.indexOf('\n') + 1).length;
        resolve({
          name,
          port,
          target: `127.0.0.1:${port}`,
          proc,
          served: () => dots,
          async kill() {
            proc.kill('SIGKILL');
            await gone;
          },
        });
        return;
      }
      dots += s.length;
    });
  });
}
