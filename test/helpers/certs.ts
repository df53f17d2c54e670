/**
 * Throwaway X.509 material for TLS tests, made at run time with the `openssl` command (node:crypto
 * cannot issue certificates) in a temp directory: certificate authorities, and leaves they sign
 * for any names, expired ones included. ECDSA P-256 keys: fast to make and to use.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  readonly cert: string;
  readonly key: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface IssueOptions {
  /** Subject alternative names: `DNS:a.test`, `IP:127.0.0.1`, `URI:spiffe://x`. */
  readonly sans?: readonly string[];
  /** Validity in days; negative makes a certificate that expired already. */
  readonly days?: number;
  /** Extended key usage: serverAuth (default) or clientAuth. */
  readonly usage?: 'serverAuth' | 'clientAuth';
  /** The leaf's key: ECDSA P-256 (default) or RSA 2048. */
  readonly keyType?: 'ec' | 'rsa';
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestPki {
  readonly dir: string;
  private n = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'fulcrum-pki-'));
  }

  private read(base: string): Pem {
    const certPath = join(this.dir, `${base}.pem`);
    const keyPath = join(this.dir, `${base}.key`);
    return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8'), certPath, keyPath };
  }

  /** A self-signed certificate authority. */
  ca(cn: string): Pem {
    const base = `ca-${++this.n}`;
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.pem`,
        '-subj',
        `/CN=${cn}`,
        '-days',
        '2',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      this.dir,
    );
    return this.read(base);
  }

  /** A leaf signed by `ca`. */
  issue(ca: Pem, cn: string, opts: IssueOptions = {}): Pem {
    const base = `leaf-${++this.n}`;
    const key = opts.keyType === 'rsa' ? ['rsa:2048'] : ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    openssl(
      [
        'req',
        '-newkey',
        ...key,
        '-nodes',
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.csr`,
        '-subj',
        `/CN=${cn}`,
      ],
      this.dir,
    );
    const sans = opts.sans ?? [`DNS:${cn}`];
    writeFileSync(
      join(this.dir, `${base}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature${opts.keyType === 'rsa' ? ',keyEncipherment' : ''}\nextendedKeyUsage=${opts.usage ?? 'serverAuth'}\n${sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : ''}`,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        ca.certPath,
        '-CAkey',
        ca.keyPath,
        '-CAcreateserial',
        '-days',
        String(opts.days ?? 2),
        '-extfile',
        `${base}.ext`,
        '-out',
        `${base}.pem`,
      ],
      this.dir,
    );
    return this.read(base);
  }
}

/** A PEM block as a YAML literal, indented to sit under a key at `indent` spaces. */
export function yamlPem(pem: string, indent: number): string {
  const pad = ' '.repeat(indent);
  return `|\n${pem
    .trimEnd()
    .split('\n')
    .map((l) => pad + l)
    .join('\n')}`;
}
