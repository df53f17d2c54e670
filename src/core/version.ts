import { readFileSync } from 'node:fs';

/** The package version, read once from package.json at the repository root. */
function readVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'fulcrum' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate: sources run from src/ (strip-types) or from dist/src/ (compiled)
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
