/**
 * A small Prometheus registry for the hot path, written by hand on purpose: prom-client re-hashes
 * label sets on every `inc`/`observe`, which costs about a microsecond per request per metric.
 * Here a labelled child is bound once (at generation build time) and updating it is a field
 * increment. Process metrics still come from prom-client (see metrics.ts), which does them well.
 */

export type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Labels, extra?: string): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function fmt(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (Number.isInteger(n)) return String(n);
  // Trim trailing zeros of the fraction only: 123456789100.4 → "123456789100", not "1234567891".
  const s = n.toPrecision(12);
  return s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s;
}

export interface Metric {
  readonly name: string;
  render(): string;
}

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Counter implements Metric {
  readonly name: string;
  private readonly help: string;
  private readonly children = new Map<string, { labels: Labels; child: CounterChild }>();
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  /** The child for a label set; call once and keep it. */
  labels(labels: Labels): CounterChild {
    const key = JSON.stringify(labels);
    let e = this.children.get(key);
    if (!e) {
      e = { labels, child: new CounterChild() };
      this.children.set(key, e);
    }
    return e.child;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, child } of this.children.values())
      out += `${this.name}${renderLabels(labels)} ${fmt(child.value)}\n`;
    return out;
  }
}

export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly bounds: readonly number[];
  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++)
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
  }
}

export class Histogram implements Metric {
  readonly name: string;
  private readonly help: string;
  private readonly bounds: readonly number[];
  private readonly children = new Map<string, { labels: Labels; child: HistogramChild }>();
  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
  }
  labels(labels: Labels): HistogramChild {
    const key = JSON.stringify(labels);
    let e = this.children.get(key);
    if (!e) {
      e = { labels, child: new HistogramChild(this.bounds) };
      this.children.set(key, e);
    }
    return e.child;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const { labels, child } of this.children.values()) {
      let cum = 0;
      this.bounds.forEach((b, i) => {
        cum += child.counts[i]!;
        out += `${this.name}_bucket${renderLabels(labels, `le="${fmt(b)}"`)} ${fmt(cum)}\n`;
      });
      out += `${this.name}_bucket${renderLabels(labels, 'le="+Inf"')} ${fmt(child.count)}\n`;
      out += `${this.name}_sum${renderLabels(labels)} ${fmt(child.sum)}\n`;
      out += `${this.name}_count${renderLabels(labels)} ${fmt(child.count)}\n`;
    }
    return out;
  }
}

/** A gauge or counter whose samples are read from live objects when scraped. */
export class Collected implements Metric {
  readonly name: string;
  private readonly help: string;
  private readonly type: 'gauge' | 'counter';
  private readonly collect: () => Iterable<[Labels, number]>;
  constructor(
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    collect: () => Iterable<[Labels, number]>,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.collect = collect;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const [labels, v] of this.collect()) out += `${this.name}${renderLabels(labels)} ${fmt(v)}\n`;
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}
