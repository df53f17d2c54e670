/**
 * Runnable examples in the docs: a block marked `<!-- runnable: NAME -->` (or another marker, for
 * examples that need a real server a test starts, such as `runnable with dnsmasq`) followed by a
 * `js` block, and the `text` block after "It prints:" that is its expected output (`…` matches
 * anything on a line).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './child.ts';

export interface Example {
  readonly name: string;
  readonly code: string;
  readonly prints: string | null;
}

export function examples(md: string, marker = 'runnable'): Example[] {
  const out: Example[] = [];
  const re = new RegExp(
    `<!-- ${marker}: ([\\w-]+) -->\\n\`\`\`js\\n([\\s\\S]*?)\`\`\`\\n(?:\\nIt prints:\\n\\n\`\`\`text\\n([\\s\\S]*?)\`\`\`)?`,
    'g',
  );
  for (const m of md.matchAll(re)) out.push({ name: m[1]!, code: m[2]!, prints: m[3] ?? null });
  return out;
}

/** Whether `actual` is what `expected` shows, line by line (`…` matches anything). */
export function matches(expected: string, actual: string): boolean {
  const want = expected.trimEnd().split('\n');
  const got = actual.trimEnd().split('\n');
  if (want.length !== got.length) return false;
  return want.every((w, i) => {
    const re = new RegExp(
      `^${w
        .split('…')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    return re.test(got[i]!);
  });
}

/** The body of the fenced `lang` block right after `<!-- marker -->` in `md` (throws when absent). */
export function markedBlock(md: string, marker: string, lang: string): string {
  const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(md);
  if (m === null) throw new Error(`no \`${lang}\` block after <!-- ${marker} -->`);
  return m[1]!;
}

/** The arguments of each `tool ...` line of a sh block, split as the shell would (single quotes only). */
export function commandLines(sh: string, tool: string): string[][] {
  return sh
    .split('\n')
    .filter((l) => l.startsWith(`${tool} `))
    .map((l) => [...l.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!).slice(1));
}

/**
 * Run the `js` example `name` of the doc at `docPath` (relative to the repository) under
 * `marker` as a module of its own (it imports `fulcrum/client` as a user would), with `env` added;
 * returns what it printed and what the doc says it prints.
 */
export async function runDocExample(
  docPath: string,
  marker: string,
  env: Record<string, string>,
): Promise<{ stdout: string; prints: string }> {
  const [ex] = examples(readFileSync(join(REPO_ROOT, docPath), 'utf8'), marker);
  if (ex === undefined || ex.prints === null)
    throw new Error(`${docPath} has no ${marker} example with its output`);
  const dir = join(REPO_ROOT, 'dist', 'doc-examples');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${ex.name}.mjs`);
  writeFileSync(file, ex.code);
  const { stdout } = await promisify(execFile)(process.execPath, [file], {
    cwd: REPO_ROOT,
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { stdout, prints: ex.prints };
}
