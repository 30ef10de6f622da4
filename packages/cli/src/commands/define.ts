/**
 * How a command is declared: its flags and arguments, the flags it cannot run without, its
 * help, and the code that runs it, imported only when it runs (program.ts turns the
 * declarations into commander commands, so `--help` loads no command code).
 *
 * The options a command's run function takes are derived from its flags (CommandOptions):
 * `--org-id <org>` is `orgId?: string`, a repeatable `--test <path>` is `test?: string[]`,
 * `--wait` and `--no-bundle` are `wait?: boolean` and `bundle?: boolean`, a flag with a
 * default is always set. defineCommand checks `load` and `relax` against that type.
 */
import { DEFAULT_SERVER } from '../constants.js';
import type { Requirement } from '../required.js';

export interface FlagSpec {
  /** As commander takes it: `--org-id <org>`, `--wait`, `--no-bundle`. */
  readonly spec: string;
  readonly description: string;
  readonly default?: string;
  /** The environment variable read when the flag is not given. */
  readonly env?: string;
  /** The flag may be given again: its values are collected into an array. */
  readonly repeat?: boolean;
}

export interface ArgSpec {
  /** As commander takes it: `[file]` (optional) or `<file>`. */
  readonly spec: string;
  readonly description: string;
}

type Extras = Omit<FlagSpec, 'spec' | 'description'>;

/** A flag; `spec` keeps its literal type, from which the option's name and type are derived. */
export function flag<const S extends string, const M extends Extras = Record<never, never>>(
  spec: S,
  description: string,
  extras?: M,
): { readonly spec: S; readonly description: string } & M {
  return { spec, description, ...extras } as { readonly spec: S; readonly description: string } & M;
}

/** An argument of the command, e.g. `arg('[file]', 'the built app')`. */
export function arg<const S extends string>(
  spec: S,
  description: string,
): { readonly spec: S; readonly description: string } {
  return { spec, description };
}

/** --server, --token, --json and --no-color: every command takes them (program.ts adds them). */
export const GLOBAL_FLAGS = [
  flag('--server <url>', 'job-server URL; a comma-separated list fails over', {
    env: 'QGJOB_SERVER',
    default: DEFAULT_SERVER,
  }),
  flag('--token <token>', 'API token (never printed)', { env: 'QGJOB_TOKEN' }),
  flag('--json', 'print exactly one JSON document on stdout'),
  flag('--no-color', 'no colour (also when NO_COLOR is set or output is not a terminal)'),
];

/** What a missing --job-id or --submission-id's message ends with. */
export const FIND_IDS = "find ids with 'qgjob list'";
export const FIND_JOB_IDS = "find job ids with 'qgjob list'";

type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
type LongOf<S extends string> = S extends `${infer Long} ${string}` ? Long : S;
type BareOf<S extends string> = S extends `--no-${infer Name}` ? Name : S extends `--${infer Name}` ? Name : never;
/** Where commander keeps a flag's value: `--org-id <org>` → `orgId`, `--no-bundle` → `bundle`. */
export type KeyOf<S extends string> = Camel<BareOf<LongOf<S>>>;
type ValueOf<F extends FlagSpec> = F['spec'] extends `${string} <${string}>`
  ? F extends { readonly repeat: true }
    ? string[]
    : string
  : boolean;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The options given by the flags `F` (a union): optional, except those with a default. */
export type OptionsOf<F extends FlagSpec> = {
  [X in F as X extends { readonly default: string } ? KeyOf<X['spec']> : never]: ValueOf<X>;
} & {
  [X in F as X extends { readonly default: string } ? never : KeyOf<X['spec']>]?: ValueOf<X>;
};

/** Where the action puts an argument's value: `[file]` → `file`. */
type ArgKey<S extends string> = S extends `[${infer Name}]` ? Name : S extends `<${infer Name}>` ? Name : never;
type ArgsOf<A extends ArgSpec> = { [X in A as ArgKey<X['spec']>]?: string };

/** The global options, as every command gets them. */
export type GlobalOptions = Simplify<OptionsOf<(typeof GLOBAL_FLAGS)[number]>>;

type OptionsFor<F extends FlagSpec, A extends ArgSpec> = Simplify<OptionsOf<F> & GlobalOptions & ArgsOf<A>>;

/** What the run function of a command with the flags `F` and the arguments `A` is given. */
export type CommandOptions<F extends readonly FlagSpec[], A extends readonly ArgSpec[] = readonly never[]> = OptionsFor<
  F[number],
  A[number]
>;

/** Runs a command; resolves to its exit code. */
export type Run<O> = (options: O, signal: AbortSignal) => Promise<number>;

interface Help {
  /** The command's name within its parent: `submit`, `upload`. */
  readonly name: string;
  readonly description: string;
  /** Shown before the help's usage line. */
  readonly examples: readonly string[];
  /** Shown after the flags, as given. */
  readonly help?: string;
}

interface Declared extends Help {
  /** The command's own flags, in the order its help lists them; the global ones follow. */
  readonly flags: readonly FlagSpec[];
  readonly args?: readonly ArgSpec[];
  /** Flags it cannot run without: marked `(required)` in its help, checked before it loads. */
  readonly required?: readonly Requirement[];
  /** What a missing required flag's message ends with; default `see 'qgjob CMD --help'`. */
  readonly hint?: string;
}

/** A flag as a requirement names it (`--org-id`), or an argument (`FILE`). */
type NameOf<F extends FlagSpec, A extends ArgSpec> = LongOf<F['spec']> | Uppercase<ArgKey<A['spec']>>;
type RequirementOf<F extends FlagSpec, A extends ArgSpec> = readonly [NameOf<F, A>, ...NameOf<F, A>[]];

export interface CommandSpec<F extends FlagSpec, A extends ArgSpec> extends Declared {
  readonly flags: readonly F[];
  readonly args?: readonly A[];
  /** Each names flags or arguments the command declares. */
  readonly required?: readonly RequirementOf<F, A>[];
  /** Fewer requirements for some combinations of flags (submit --dry-run). */
  readonly relax?: (
    options: OptionsFor<F, A>,
    required: readonly RequirementOf<F, A>[],
  ) => readonly RequirementOf<F, A>[];
  /** Imports the code that runs the command. */
  readonly load: () => Promise<Run<OptionsFor<F, A>>>;
}

/** A command as program.ts sees it: its options as commander parsed them. */
export interface CommandDefinition extends Declared {
  readonly kind: 'command';
  readonly relax?: (options: Record<string, unknown>, required: readonly Requirement[]) => readonly Requirement[];
  readonly load: () => Promise<Run<Record<string, unknown>>>;
}

/** `qgjob app …`, `qgjob token …`: a command holding commands. */
export interface GroupDefinition extends Help {
  readonly kind: 'group';
  readonly commands: readonly CommandDefinition[];
}

/**
 * Declares a command. Here its run function and `relax` are checked against the options
 * its flags give; past this point they take what commander parsed.
 */
export function defineCommand<F extends FlagSpec = never, A extends ArgSpec = never>(
  spec: CommandSpec<F, A>,
): CommandDefinition {
  return { kind: 'command', ...spec } as unknown as CommandDefinition;
}

export function defineGroup(group: Omit<GroupDefinition, 'kind'>): GroupDefinition {
  return { kind: 'group', ...group };
}
