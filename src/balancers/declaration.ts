/**
 * How a balancing algorithm declares itself, once, in its own file (ARCHITECTURE.md convention 1):
 * its id and aliases, whether it reads a hash key, its options (the upstream fields of the
 * declarative file, with their JSON Schema and defaults), its factory with built-in defaults and a
 * way to configure one from validated options. Everything else is derived from the declarations
 * listed in index.ts: the file schema's `algorithm` enum and option fields (config/balancing.ts),
 * the normalized settings and their type (configure.ts), the simulator's `upstream:` block and the
 * client library's options. (grpc-js keeps a policy's config beside the policy the same way.)
 */
import type { BalancerFactory } from './types.ts';

/** A JSON Schema fragment (plain data, spliced into the file schema). */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** The values an option may hold in normalized settings. */
export type OptionValue = number | string;

/** One option of an algorithm: an upstream field of the declarative file. */
export interface OptionDeclaration<T extends OptionValue> {
  /** The field's name in the file (snake_case), also the name range errors start with. */
  readonly field: string;
  /** The field's JSON Schema, `default` and `description` included (the description says what, not who). */
  readonly schema: JsonSchema;
  readonly default: T;
  /**
   * Refused on upstreams whose algorithm does not read it. Off for fields Kong writes on every
   * upstream (`slots`) and for those Fulcrum always tolerated; on for newer Fulcrum-only fields.
   */
  readonly exclusive: boolean;
  /** The value kept in the settings (a header name in lower case); identity when absent. */
  normalize?(v: T): T;
}

/** Settings keyed as in the normalized UpstreamSpec (`maglevTableSize`, not `maglev_table_size`). */
export type OptionValues = Readonly<Record<string, OptionValue>>;

export interface BalancerDeclaration<O extends OptionValues = OptionValues> {
  /** The canonical id users write in `algorithm:`; stable and documented. */
  readonly id: string;
  /** Other names accepted for the id (Kong's `consistent-hashing` for `ring-hash`). */
  readonly aliases: readonly string[];
  /** Whether picks read the request's hash key (`hash_on`); the proxy computes one only then. */
  readonly hashing: boolean;
  /** The options read, by settings key. One option may be shared by several algorithms (the same object). */
  readonly options: { readonly [K in keyof O]: OptionDeclaration<O[K]> };
  /** The factory with the algorithm's own built-in defaults (unit tests, benchmarks). */
  readonly factory: BalancerFactory;
  /** A factory for validated options; throws a RangeError whose message starts with the field's name. */
  configure(options: O): BalancerFactory;
}

/** Any algorithm's declaration, for lists of them. */
// biome-ignore lint/suspicious/noExplicitAny: a list holds declarations of different option types
export type AnyBalancerDeclaration = BalancerDeclaration<any>;

/** Declares an algorithm (typed: the options object fixes what `configure` receives). */
export function declareBalancer<O extends OptionValues>(d: BalancerDeclaration<O>): BalancerDeclaration<O> {
  return Object.freeze(d);
}

/** A numeric option; `integer` for whole numbers. */
export function numberOption(
  field: string,
  description: string,
  o: { min: number; max: number; default: number; integer?: boolean; exclusive?: boolean },
): OptionDeclaration<number> {
  return Object.freeze({
    field,
    schema: Object.freeze({
      type: o.integer === true ? 'integer' : 'number',
      minimum: o.min,
      maximum: o.max,
      default: o.default,
      description,
    }),
    default: o.default,
    exclusive: o.exclusive ?? false,
  });
}

/** A header-name option (a token, kept in lower case). */
export function headerOption(
  field: string,
  description: string,
  o: { default: string; exclusive?: boolean },
): OptionDeclaration<string> {
  return Object.freeze({
    field,
    schema: Object.freeze({
      type: 'string',
      description,
      default: o.default,
      minLength: 1,
      pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
    }),
    default: o.default.toLowerCase(),
    exclusive: o.exclusive ?? false,
    normalize: (v: string) => v.toLowerCase(),
  });
}
