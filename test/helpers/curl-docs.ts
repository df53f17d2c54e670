/**
 * The shell examples of a doc page as commands to run: each ```sh block line (a `\` continues it,
 * `#` starts a comment) and each `$ ` line of a ```console block, in page order. Used to run the
 * docs' curl examples with the real curl binary against a test node.
 */
export interface DocCommand {
  /** The block's index in the page and the command's line in the file (for failure messages). */
  readonly block: number;
  readonly line: number;
  readonly text: string;
}

export function docCommands(md: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = md.split('\n');
  let block = -1;
  let kind: 'sh' | 'console' | null = null;
  let pending: { text: string; line: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const fence = /^\s*```(\w*)/.exec(l);
    if (fence) {
      if (kind === null && (fence[1] === 'sh' || fence[1] === 'console')) {
        kind = fence[1];
        block++;
      } else kind = null;
      continue;
    }
    if (kind === null) continue;
    let text = l.trim();
    if (pending === null) {
      if (kind === 'console') {
        if (!text.startsWith('$ ')) continue;
        text = text.slice(2);
      }
      if (text === '' || text.startsWith('#')) continue;
      pending = { text: '', line: i + 1 };
    }
    const cont = text.endsWith('\\');
    pending.text += cont ? `${text.slice(0, -1)} ` : text;
    // A single-quoted argument may span lines (a JSON body): go on until the quotes balance.
    const open = (pending.text.split("'").length - 1) % 2 === 1;
    if (open) pending.text += '\n';
    if (!cont && !open) {
      out.push({ block, line: pending.line, text: pending.text.replace(/\s+#[^'"]*$/, '').trim() });
      pending = null;
    }
  }
  return out;
}
