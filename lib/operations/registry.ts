/**
 * The command table: one row per command of SPEC 2.5 (see command-row.ts for what a row holds).
 * The CLI (parser, help, refusals, output), the API's routes and infra's API Gateway routes are
 * made from it; adding a command is a row here and its operation file.
 */
import * as z from 'zod';
import { assertName, NAME_PATTERN } from '../config/names.ts';
import { type ErrorCode, isErrorCode } from '../errors.ts';
import { type ReadPlan, renderRead } from '../host/programs.ts';
import { present } from '../optional.ts';
import { configBodySchema, parsePairs, versionField } from './arguments.ts';
import { type CommandRow, defineCommand, defineRoute, type RequestOf } from './command-row.ts';
import { type AppstackAnswer, heartbeatAppstack, heartbeatGet } from './heartbeat.ts';
import {
  appstackLine,
  appstackText,
  heartbeatLine,
  heartbeatText,
  journalLine,
  journalText,
  modeText,
  productLine,
  productText,
} from './human.ts';
import type { Journal } from './journal.ts';
import { type LongStart, operationGet, runLong } from './long.ts';
import { productGet, productSet } from './product.ts';
import { provisionRequest } from './provision.ts';
import { serverModeGet, serverModeSet } from './server-mode.ts';
import { readSnapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './target.ts';
import { upgradeRequest } from './upgrade.ts';
import type { DryRun } from './write-loop.ts';

/** What a read-only command would run: the read itself (nothing else runs). */
function dryRead(host: HostTarget, plan: ReadPlan = {}): DryRun {
  return { dryRun: true, server: host.name, program: renderRead(host, plan) };
}

/** A journal that ended `failed` stands for its error's code (INTERNAL when it has none we know). */
function journalVerdict(journal: Journal): ErrorCode | undefined {
  if (journal.status !== 'failed') return undefined;
  return isErrorCode(journal.error?.code) ? journal.error.code : 'INTERNAL';
}

const productGetRow = defineCommand({
  name: 'product.get',
  args: z.strictObject({ product: z.string(), key: z.string().exactOptional() }),
  mutates: 'never',
  long: false,
  run: async (host, { product, key }, options) => {
    assertName('product', product);
    // Only bootstrap.ini and this product's file (SPEC 2.5.1's answer needs nothing else).
    const read = { products: [product] };
    if (options.dryRun) return dryRead(host, read);
    return productGet(await readSnapshot(host, read, options), host, product, key);
  },
  cli: {
    usage: 'PRODUCT [KEY]',
    arity: [1, 2],
    summary: "a product's config and state",
    help: "Prints a product's config (all keys, or one) and its state.",
    parse: ([product, key]) => ({ product: product!, ...present({ key }) }),
  },
  text: productText,
  line: productLine,
  routes: [
    defineRoute({
      method: 'GET',
      path: '/servers/{server}/products/{product}',
      query: ['key'],
      args: ({ path, query }) => ({ product: path('product'), ...present({ key: query['key'] }) }),
    }),
  ],
});

const productSetRow = defineCommand({
  name: 'product.set',
  args: z.strictObject({ product: z.string(), values: z.record(z.string(), z.string()) }),
  mutates: 'always',
  long: false,
  run: async (host, { product, values }, options) => {
    assertName('product', product);
    return productSet(host, product, values, options);
  },
  cli: {
    usage: 'PRODUCT KEY=VALUE…',
    arity: [2, Number.POSITIVE_INFINITY],
    summary: 'set config keys (all or none)',
    help: "Sets all the pairs at once, or none, under the lock. Only keys listed in the product's `keys` are accepted.",
    parse: ([product, ...pairs]) => ({ product: product!, values: parsePairs(pairs) }),
  },
  text: productText,
  line: productLine,
  routes: [
    defineRoute({
      method: 'PATCH',
      path: '/servers/{server}/products/{product}/config',
      body: { whole: configBodySchema },
      args: ({ path, body }) => ({ product: path('product'), values: body }),
    }),
  ],
});

const serverModeRow = defineCommand({
  name: 'server.mode',
  args: z.strictObject({ mode: z.string().exactOptional() }),
  mutates: 'when-given',
  long: false,
  run: async (host, { mode }, options) => {
    if (mode !== undefined) {
      assertName('mode', mode);
      return serverModeSet(host, mode, options);
    }
    // The mode is in server.ini (bootstrap.ini's initial_mode before that): no product's file.
    const read = { products: [] };
    if (options.dryRun) return dryRead(host, read);
    return serverModeGet(await readSnapshot(host, read, options));
  },
  cli: {
    usage: '[MODE]',
    arity: [0, 1],
    summary: "print or set the server's mode",
    help: 'Without MODE prints the mode; with MODE sets it (one of [server] modes), under the lock.',
    parse: ([mode]) => present({ mode }),
  },
  text: modeText,
  line: modeText,
  routes: [
    defineRoute({ method: 'GET', path: '/servers/{server}/mode', args: () => ({}) }),
    defineRoute({
      method: 'PUT',
      path: '/servers/{server}/mode',
      body: { fields: { mode: z.string().regex(NAME_PATTERN, 'a mode name') } },
      args: ({ body }) => ({ mode: body.mode }),
    }),
  ],
});

/** A command answered with a journal: its text, its fleet line, and a failed journal's code as its exit code. */
const JOURNAL_ANSWER = { text: journalText, line: journalLine, verdict: journalVerdict };

/**
 * What makes a command long: it mutates, runs `start`'s hooks in a runner with a journal
 * (`--detach`, `--operation-id`, 202 from the API), and answers with that journal.
 */
export function longCommand<Args>(start: (args: Args) => LongStart) {
  return {
    mutates: 'always',
    long: true,
    run: async (host: HostTarget, args: Args, options: RunOptions) => runLong(host, start(args), options),
    ...JOURNAL_ANSWER,
  } as const;
}

const serverProvisionRow = defineCommand({
  name: 'server.provision',
  args: z.strictObject({ role: z.string().exactOptional(), operationId: z.string().exactOptional() }),
  ...longCommand(provisionRequest),
  cli: {
    usage: '[--role ROLE]',
    arity: [0, 0],
    summary: "run every product's provision hook",
    help: "Runs each product's provision hook in the role's order, under the lock; stops at the first failure.\nROLE defaults to the role already recorded. Waits for the end and prints the journal.",
    flags: ['role'],
    parse: (_, flags) => present({ role: flags.role, operationId: flags.operationId }),
  },
  routes: [
    defineRoute({
      method: 'POST',
      path: '/servers/{server}/provision',
      body: { fields: { role: z.string().regex(NAME_PATTERN, 'a role name').optional() } },
      args: ({ body }) => present({ role: body.role }),
    }),
  ],
});

const productUpgradeRow = defineCommand({
  name: 'product.upgrade',
  args: z.strictObject({
    product: z.string(),
    version: z.string(),
    operationId: z.string().exactOptional(),
  }),
  ...longCommand(upgradeRequest),
  cli: {
    usage: 'PRODUCT VERSION',
    arity: [2, 2],
    summary: "run a product's upgrade hook",
    help: "Runs the product's upgrade hook with VERSION, under the lock; on success records the version.\nWaits for the end and prints the journal.",
    flags: ['no-health-gate'],
    parse: ([product, version], flags) => ({
      product: product!,
      version: version!,
      ...present({ operationId: flags.operationId }),
    }),
  },
  routes: [
    defineRoute({
      method: 'POST',
      path: '/servers/{server}/products/{product}/upgrade',
      body: { fields: { version: versionField } },
      args: ({ path, body }) => ({ product: path('product'), version: body.version }),
    }),
  ],
});

// Both heartbeats are served by one route, from one read (lib/api/server-routes.ts).
/** The CLI side of a command that takes no operands (the heartbeats). */
const NO_OPERANDS = { usage: '', arity: [0, 0] as const, parse: () => ({}) };

const heartbeatGetRow = defineCommand({
  name: 'heartbeat.get',
  args: z.strictObject({}),
  mutates: 'never',
  long: false,
  run: async (host, _, options) => {
    const plan = { lock: true, newestJournal: true, productState: true };
    if (options.dryRun) return dryRead(host, plan);
    return heartbeatGet(host, await readSnapshot(host, plan, options));
  },
  cli: {
    ...NO_OPERANDS,
    summary: "the server's state at a glance",
    help: "Mode, role, products with version and status, the lock's holder, the last operation, uptime and load.",
  },
  text: heartbeatText,
  line: heartbeatLine,
  routes: [],
});

const heartbeatAppstackRow = defineCommand({
  name: 'heartbeat.appstack',
  args: z.strictObject({}),
  mutates: 'never',
  long: false,
  run: async (host, _, options) => {
    // bootstrap.ini and server.ini say what to check: no product's file is read.
    const plan = { checks: true, products: [] };
    if (options.dryRun) return dryRead(host, plan);
    return heartbeatAppstack(host, await readSnapshot(host, plan, options), options);
  },
  cli: {
    ...NO_OPERANDS,
    summary: "run the checks of the products of the server's role",
    help: "Runs the checks of the products of the server's role (of every product while no role is recorded): healthy, degraded (some failing) or down (all failing).",
  },
  text: appstackText,
  line: appstackLine,
  // SPEC 2.6: an appstack that ran but is not healthy is UNHEALTHY.
  verdict: (answer: AppstackAnswer) => (answer.status === 'healthy' ? undefined : 'UNHEALTHY'),
  routes: [],
});

const operationGetRow = defineCommand({
  name: 'operation.get',
  args: z.strictObject({ operationId: z.string() }),
  mutates: 'never',
  long: false,
  run: (host, { operationId }, options) => operationGet(host, operationId, options),
  cli: {
    usage: 'ID',
    arity: [1, 1],
    summary: 'the journal of an operation',
    help: 'Prints the journal of one operation.',
    parse: ([operationId]) => ({ operationId: operationId! }),
  },
  ...JOURNAL_ANSWER,
  routes: [
    defineRoute({
      method: 'GET',
      path: '/servers/{server}/operations/{operationId}',
      args: ({ path }) => ({ operationId: path('operationId') }),
    }),
  ],
});

/** Every command, in the order the help lists them. */
export const COMMAND_TABLE = [
  productGetRow,
  productSetRow,
  serverModeRow,
  serverProvisionRow,
  productUpgradeRow,
  heartbeatGetRow,
  heartbeatAppstackRow,
  operationGetRow,
] as const;

/** One bootstrap command with its arguments (SPEC 2.5), one member per row. */
export type CommandRequest = RequestOf<typeof COMMAND_TABLE>;

export type CommandName = CommandRequest['command'];

const names = (keep: (row: CommandRow) => boolean): ReadonlySet<CommandName> =>
  new Set(COMMAND_TABLE.filter((row) => keep(row as CommandRow)).map((row) => row.name));

/** The commands that always change the host (`server.mode` only with MODE). */
export const MUTATING_COMMANDS = names((row) => row.mutates === 'always');

export const LONG_COMMANDS = names((row) => row.long);
