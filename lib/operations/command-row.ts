/**
 * One row of the command table (registry.ts): everything the CLI, the API and infra know of a
 * command. The CLI's parser, help, refusals and output, the API's routes and the API Gateway
 * route list are all made from the rows, so a command is declared once.
 */
import type * as z from 'zod';
import { BootstrapError, type ErrorCode } from '../errors.ts';
import type { HostTarget, RunOptions } from './target.ts';
import type { DryRun } from './write-loop.ts';

/** The command-line options a row's `parse` may read; the others are the CLI's own. */
export interface CliFlags {
  role?: string;
  operationId?: string;
}

/** Flags that go with only some commands (beyond what `mutates` and `long` give). */
export type CommandFlag = 'role' | 'no-health-gate';

/** How a route's request reads: path parameters (checked by their patterns), query, body. */
export interface RouteInput<Body> {
  path: (name: string) => string;
  query: Record<string, string>;
  body: Body;
}

/**
 * The body of a route: `fields`, an object of these (the API adds `waitLockSeconds` for a change,
 * and `callbackUrl` and `operationId` for a long command); `whole`, this value as a whole.
 */
export type BodySpec = { fields: z.ZodRawShape } | { whole: z.ZodType };

type BodyOf<B> = B extends { fields: infer S extends z.ZodRawShape }
  ? z.infer<z.ZodObject<S>>
  : B extends { whole: infer T extends z.ZodType }
    ? z.infer<T>
    : undefined;

/** One HTTP route of a command (SPEC 7.1): method, path template, and how it maps to arguments. */
export interface CommandRoute<Args, B extends BodySpec | undefined = BodySpec | undefined> {
  method: 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';
  /** `/servers/{server}/mode`: `{server}` names the target; other `{name}`s are arguments. */
  path: string;
  /** The query parameters that are arguments (others are ignored, SPEC 7.1). */
  query?: readonly string[];
  body?: B;
  // A method, so that routes with different bodies share one array (parameters bivariant).
  args(input: RouteInput<BodyOf<B>>): Args;
}

export interface CommandRow<Name extends string = string, Args extends object = object, Answer = unknown> {
  /** SPEC 2.5's name, the CLI's command word. */
  name: Name;
  /** Its arguments (without `command`), a strict zod object: `defineCommand` makes `Args` its type. */
  args: z.ZodType;
  /** Whether it changes the host: always, never, or only when given an argument (`server.mode MODE`). */
  mutates: 'always' | 'never' | 'when-given';
  /** Runs in a runner of its own with a journal (SPEC 2.5), followed to its end or detached. */
  long: boolean;
  /** Runs it on one host: validates, reads, plans, runs (or, with `dryRun`, renders). */
  run(host: HostTarget, args: Args, options: RunOptions): Promise<Answer | DryRun>;
  cli: {
    /** The usage after the command word (`PRODUCT [KEY]`). */
    usage: string;
    /** How many positionals it takes, at least and at most. */
    arity: readonly [number, number];
    /** The main help's line. */
    summary: string;
    /** The command's own help, between its usage line and its options. */
    help: string;
    /** Options only this command takes. */
    flags?: readonly CommandFlag[];
    parse(positionals: readonly string[], flags: CliFlags): Args;
  };
  /** The answer as text for one server, and as the one line of a fleet run. */
  text(answer: Answer): string;
  line(answer: Answer): string;
  /** The error an answer that ran stands for (a failed journal, an unhealthy appstack), if any. */
  verdict?(answer: Answer): ErrorCode | undefined;
  routes: readonly CommandRoute<Args>[];
}

/** Any row, as the generated parts see it. */
// biome-ignore lint/suspicious/noExplicitAny: rows differ in their argument and answer types; each row is checked where it is written (`defineCommand`)
export type AnyCommandRow = CommandRow<string, any, any>;

/** A table of commands; the CLI and the API take one (the registry's by default). */
export type CommandTable = readonly AnyCommandRow[];

/** A row as written: its argument type is the one its zod `args` gives, never inferred elsewhere. */
type RowSpec<Name extends string, S extends z.ZodType<object>, Answer> = Omit<
  CommandRow<Name, z.output<S>, Answer>,
  'args'
> & { args: S };

/**
 * A command's name (SPEC 2.5): `noun.verb` in lower case. The lock record and the journal hold
 * it as the command gave it, so a journal is checked against this shape, not a list of names.
 */
export const COMMAND_NAME_PATTERN = /^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$/;

/** Checks one row's types where it is written, and its name's shape. */
export function defineCommand<const Name extends string, S extends z.ZodType<object>, Answer>(
  row: RowSpec<Name, S, Answer>,
): CommandRow<Name, z.output<S>, Answer> {
  if (!COMMAND_NAME_PATTERN.test(row.name)) {
    throw new BootstrapError('INTERNAL', `command name ${JSON.stringify(row.name)} is not noun.verb`, {
      command: row.name,
      pattern: COMMAND_NAME_PATTERN.source,
    });
  }
  return row as CommandRow<Name, z.output<S>, Answer>;
}

/** One route's types checked where it is written. */
export function defineRoute<Args, B extends BodySpec | undefined = undefined>(
  route: CommandRoute<Args, B>,
): CommandRoute<Args, BodySpec | undefined> {
  return route as CommandRoute<Args, BodySpec | undefined>;
}

/** The row of `name` in `table`, if any. */
export function findRow(table: CommandTable, name: string): AnyCommandRow | undefined {
  return table.find((r) => r.name === name);
}

/** The row of `name`, or INVALID_REQUEST. */
export function rowOf(table: CommandTable, name: string): AnyCommandRow {
  const row = findRow(table, name);
  if (!row)
    throw new BootstrapError('INVALID_REQUEST', `unknown command ${JSON.stringify(name)}; see --help`, {
      command: name,
    });
  return row;
}

/** Whether this request changes the host (`server.mode` only with MODE). */
export function changesHost(row: AnyCommandRow, args: object): boolean {
  return (
    row.mutates === 'always' ||
    (row.mutates === 'when-given' && Object.values(args).some((v) => v !== undefined))
  );
}

/** An object type's named properties (zod types `strictObject({})` as `Record<string, never>`). */
type Named<A> = { [K in keyof A as string extends K ? never : K]: A[K] };

/** The request type of a table: `{ command }` and the row's arguments, one member per row. */
export type RequestOf<Table extends readonly AnyCommandRow[]> = {
  [K in keyof Table]: Table[K] extends CommandRow<infer N, infer A, infer _Answer>
    ? { command: N } & Named<A>
    : never;
}[number];
