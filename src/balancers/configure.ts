/**
 * Lookups over the built-in algorithms' declarations (index.ts holds the list): names and aliases,
 * which algorithms hash, every option with its default, the settings an upstream carries, and the
 * factory for an upstream. Nothing here names an algorithm: adding one is its own file and one line
 * in the list.
 */
import type {
  AnyBalancerDeclaration,
  BalancerDeclaration,
  OptionDeclaration,
  OptionValue,
} from './declaration.ts';
import { BALANCER_ALIASES, BUILTIN_ALGORITHMS } from './index.ts';
import type { BalancerFactory } from './types.ts';

type SettingsOf<D> = D extends BalancerDeclaration<infer O> ? O : never;
type Intersect<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Every balancer option an upstream carries, in the declarative file's units, by settings key. */
export type BalancerSettings = Readonly<Intersect<SettingsOf<(typeof BUILTIN_ALGORITHMS)[number]>>>;

const ALL: readonly AnyBalancerDeclaration[] = BUILTIN_ALGORITHMS;
const BY_ID: ReadonlyMap<string, AnyBalancerDeclaration> = new Map(ALL.map((d) => [d.id, d]));

/** One option with the algorithms that read it (an option object may be shared, as hash_balance_factor). */
export interface DeclaredOption {
  readonly key: string;
  readonly option: OptionDeclaration<OptionValue>;
  readonly readers: readonly string[];
}

function collectOptions(): readonly DeclaredOption[] {
  const byKey = new Map<string, { option: OptionDeclaration<OptionValue>; readers: string[] }>();
  const fields = new Set<string>();
  for (const d of ALL)
    for (const [key, option] of Object.entries(d.options) as [string, OptionDeclaration<OptionValue>][]) {
      const seen = byKey.get(key);
      if (seen === undefined) {
        if (fields.has(option.field)) throw new Error(`balancer option field ${option.field} declared twice`);
        fields.add(option.field);
        byKey.set(key, { option, readers: [d.id] });
      } else if (seen.option !== option)
        throw new Error(`balancer option ${key} of ${d.id}: share the declaration of ${seen.readers[0]}`);
      else seen.readers.push(d.id);
    }
  return [...byKey].map(([key, v]) => Object.freeze({ key, option: v.option, readers: v.readers }));
}

/** Every declared option once, in declaration order. */
export const BALANCER_OPTIONS: readonly DeclaredOption[] = collectOptions();

/** The settings of an upstream that sets no option. */
export const DEFAULT_BALANCER_SETTINGS: BalancerSettings = Object.freeze(
  Object.fromEntries(BALANCER_OPTIONS.map((o) => [o.key, o.option.default])),
) as BalancerSettings;

/** Every name `algorithm:` accepts: each id followed by its aliases, in the list's order. */
export function algorithmNames(): string[] {
  return ALL.flatMap((d) => [d.id, ...d.aliases]);
}

/** The canonical id of an algorithm name (`consistent-hashing` → `ring-hash`). */
export function canonicalAlgorithm(name: string): string {
  return BALANCER_ALIASES.get(name) ?? name;
}

/** The declaration of an algorithm name (id or alias), or null. */
export function algorithmDeclaration(name: string): AnyBalancerDeclaration | null {
  return BY_ID.get(canonicalAlgorithm(name)) ?? null;
}

/** Whether an algorithm reads a hash key (`hash_on`). */
export function isHashing(algorithm: string): boolean {
  return algorithmDeclaration(algorithm)?.hashing ?? false;
}

/** The names (ids and aliases) of the hashing algorithms, for messages. */
export function hashingNames(): string[] {
  return ALL.filter((d) => d.hashing).flatMap((d) => [d.id, ...d.aliases]);
}

/**
 * Settings from an upstream object of the file (already checked against the schema): each declared
 * field's value, normalized, or its default.
 */
export function readBalancerSettings(raw: Readonly<Record<string, unknown>>): BalancerSettings {
  const out: Record<string, OptionValue> = {};
  for (const { key, option } of BALANCER_OPTIONS) {
    const v = raw[option.field] as OptionValue | undefined;
    out[key] = v === undefined ? option.default : option.normalize ? option.normalize(v) : v;
  }
  return out as BalancerSettings;
}

/**
 * The options an algorithm actually reads, as a plain object: its identity decides whether a
 * reload may keep the running balancer (and its state) or must build a new one.
 */
export function relevantSettings(algorithm: string, s: BalancerSettings): Record<string, OptionValue> {
  const d = algorithmDeclaration(algorithm);
  const all = s as Readonly<Record<string, OptionValue>>;
  return d === null ? {} : Object.fromEntries(Object.keys(d.options).map((k) => [k, all[k]!]));
}

/** The factory for an upstream; throws a RangeError whose message starts with the offending field. */
export function factoryFor(algorithm: string, s: BalancerSettings): BalancerFactory {
  const d = algorithmDeclaration(algorithm);
  if (d === null) throw new RangeError(`algorithm: no balancer named ${JSON.stringify(algorithm)}`);
  return d.configure(relevantSettings(d.id, s));
}
