/**
 * File paths written in the configuration are relative to the file that holds them (as nginx's
 * and HAProxy's are to their configuration), not to the directory the node was started from: the
 * same file then means the same thing whoever starts it and from where. A document that is not a
 * file (`<admin>`, `<default>`, `<POST /config>`) resolves against the working directory.
 */

import { dirname, isAbsolute, resolve } from 'node:path';
import process from 'node:process';

/** `path` as an absolute path, relative to the directory of `sourceFile`. */
export function relativeToFile(sourceFile: string, path: string): string {
  if (isAbsolute(path)) return path;
  const base = sourceFile.startsWith('<') ? process.cwd() : dirname(resolve(sourceFile));
  return resolve(base, path);
}
