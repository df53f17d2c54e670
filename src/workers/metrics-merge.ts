/**
 * `/metrics` of a node with workers: the primary's own families, then every worker's samples in
 * the same families, each labelled `worker="N"`. The Prometheus text format allows one HELP and
 * TYPE per family, so the texts are merged family by family rather than concatenated.
 */

interface Family {
  readonly meta: string[];
  readonly samples: string[];
}

/** Insert `worker="N"` as the first label of a sample line. */
function label(line: string, worker: number): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace >= 0 && (space < 0 || brace < space)) {
    const closed = line[brace + 1] === '}';
    return `${line.slice(0, brace + 1)}worker="${worker}"${closed ? '' : ','}${line.slice(brace + 1)}`;
  }
  return `${line.slice(0, space)}{worker="${worker}"}${line.slice(space)}`;
}

function parse(text: string, worker: number | null, into: Map<string, Family>): void {
  let family: Family | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# ')) {
      const name = line.split(' ')[2] ?? '';
      family = into.get(name) ?? null;
      if (family === null) {
        family = { meta: [], samples: [] };
        into.set(name, family);
      }
      if (family.samples.length === 0 || worker === null) {
        const kind = line.split(' ')[1];
        if (!family.meta.some((m) => m.split(' ')[1] === kind)) family.meta.push(line);
      }
      continue;
    }
    const sample = worker === null ? line : label(line, worker);
    if (family === null) {
      family = { meta: [], samples: [] };
      into.set(line.split(/[{ ]/)[0]!, family);
    }
    family.samples.push(sample);
  }
}

/** The workers' metrics texts as extra samples; `own` (the primary's) is rendered apart. */
export function mergeMetrics(workers: readonly { worker: number; text: string }[], own = ''): string {
  const families = new Map<string, Family>();
  parse(own, null, families);
  for (const w of workers) parse(w.text, w.worker, families);
  let out = '';
  for (const f of families.values()) out += `${[...f.meta, ...f.samples].join('\n')}\n`;
  return out;
}
