/**
 * What a run that outlasts its request is asked to do: one long operation on one server, or a
 * fleet upgrade over a selection, always under one operation id. Both travel as JSON (a Step
 * Functions execution's input, or the in-process driver's queue), so both are zod schemas,
 * checked again by whoever receives them.
 */
import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../config/names.ts';
import { BootstrapError, ERROR_CODES } from '../errors.ts';
import type { CommandTable } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';

const operationId = z.string().regex(OPERATION_ID_PATTERN);
const rate = z.union([z.number().int().min(0), z.string().min(1).max(8)]);

/** A long command and its arguments, as the API hands it to the run that follows it. */
export type LongRequest = { command: string } & Record<string, unknown>;

/**
 * The requests of `table`'s long commands: one member per long row, `command` and the row's own
 * arguments (the operation id travels beside the request, in the job).
 */
export function longRequestSchemaOf(table: CommandTable): z.ZodType<LongRequest> {
  const members = table
    .filter((row) => row.long)
    .map((row) => {
      if (!(row.args instanceof z.ZodObject)) {
        throw new BootstrapError('INTERNAL', `${row.name}: a long command's arguments must be a zod object`, {
          command: row.name,
        });
      }
      const args = 'operationId' in row.args.shape ? row.args.omit({ operationId: true }) : row.args;
      return args.extend({ command: z.literal(row.name) });
    });
  // The rows' argument types are each checked where the row is written; here they are one union.
  return z.discriminatedUnion(
    'command',
    members as [(typeof members)[number]],
  ) as unknown as z.ZodType<LongRequest>;
}

export const longRequestSchema = longRequestSchemaOf(COMMAND_TABLE);

/** `POST /servers/{server}/provision` and `…/upgrade`: follow the operation the API started, then call back. */
export const serverJobSchema = z.strictObject({
  kind: z.literal('server'),
  operationId,
  server: z.string().min(1),
  request: longRequestSchema,
  callbackUrl: z.string().optional(),
  waitLockSeconds: z.number().int().min(0).optional(),
});

/** The fields of a fleet upgrade over a selection (`/fleet/upgrade`'s body, as already validated at the edge). */
export const fleetRunShape = {
  select: z.string().min(1),
  product: z.string(),
  version: z.string(),
  maxConcurrency: rate.optional(),
  maxErrors: rate.optional(),
  canary: rate.optional(),
  healthGate: z.boolean().optional(),
  callbackUrl: z.string().optional(),
  waitLockSeconds: z.number().int().min(0).optional(),
  /** How long one target (operation and health gate) may take. */
  targetTimeoutMs: z.number().int().positive().optional(),
};

/** `POST /fleet/upgrade` and the batch-upgrade function: SPEC 4's run over a selection. */
export const fleetJobSchema = z.strictObject({ kind: z.literal('fleet'), operationId, ...fleetRunShape });

export const runJobSchema = z.discriminatedUnion('kind', [serverJobSchema, fleetJobSchema]);

export type ServerJob = z.infer<typeof serverJobSchema>;
export type FleetJob = z.infer<typeof fleetJobSchema>;
export type RunJob = z.infer<typeof runJobSchema>;

/** A fleet upgrade's request as a state machine execution carries it: the job without `kind`. */
export const fleetRequestSchema = z.strictObject(fleetRunShape);
export type FleetRequest = z.infer<typeof fleetRequestSchema>;

const errorBodySchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});

/** A finished target as SPEC 4's result shows it. */
export const targetReportSchema = z.union([
  z.strictObject({ server: z.string(), status: z.literal('succeeded'), result: z.unknown() }),
  z.strictObject({
    server: z.string(),
    status: z.enum(['failed', 'unreachable']),
    error: errorBodySchema,
  }),
  z.strictObject({ server: z.string(), status: z.literal('skipped') }),
]);
