/**
 * Path parameters and request bodies of SPEC 7.1, validated before any host is reached: names
 * against SPEC 2.1's patterns, bodies with zod (unknown fields refused). Every refusal is
 * `INVALID_REQUEST` naming the field.
 */
import * as z from 'zod';
import { HOST_NAME_PATTERN } from '../config/inventory.ts';
import { NAME_PATTERN, OPERATION_ID_PATTERN } from '../config/names.ts';
import { BootstrapError } from '../errors.ts';
import { versionField } from '../operations/arguments.ts';

/** Server names in a path are inventory host names (SPEC 3.1). */
export const SERVER_NAME_PATTERN = HOST_NAME_PATTERN;

const PATTERNS = {
  server: SERVER_NAME_PATTERN,
  product: NAME_PATTERN,
  operationId: OPERATION_ID_PATTERN,
} as const;

export type PathParam = keyof typeof PATTERNS;

/** One path parameter, checked against its pattern. */
export function pathParam(kind: PathParam, value: string): string {
  const pattern = PATTERNS[kind];
  if (!pattern.test(value)) {
    throw new BootstrapError('INVALID_REQUEST', `invalid ${kind} ${JSON.stringify(value)} in the path`, {
      [kind]: value,
      pattern: pattern.source,
    });
  }
  return value;
}

/** The longest lock wait a request may ask for: the answer must come within API Gateway's 29 s. */
export const MAX_API_WAIT_LOCK_SECONDS = 15;

/** A lock wait in a request (SPEC 2.3's `waitLockSeconds`). */
export const waitLockField = z.number().int().min(0).max(MAX_API_WAIT_LOCK_SECONDS);
const operationId = z.string().regex(OPERATION_ID_PATTERN, 'an operation id: letters, digits, _ and -');
const callbackUrl = z.string().min(1).max(2048);
const rate = z.union([z.number().int().min(0), z.string().min(1).max(8)]);

/** What a long command's body carries beside its arguments (SPEC 7.1), after them. */
export const LONG_BODY_FIELDS = {
  callbackUrl: callbackUrl.optional(),
  operationId: operationId.optional(),
  waitLockSeconds: waitLockField.optional(),
};

/** SPEC 7.1's `/fleet/upgrade` body, also the batch-upgrade function's event (SPEC 7.3). */
export const fleetUpgradeBodySchema = z.strictObject({
  select: z.string().min(1).max(4096),
  product: z.string().regex(NAME_PATTERN, 'a product name'),
  version: versionField,
  maxConcurrency: rate.optional(),
  maxErrors: rate.optional(),
  canary: rate.optional(),
  healthGate: z.boolean().optional(),
  callbackUrl: callbackUrl.optional(),
  operationId: operationId.optional(),
  // The fleet run waits in its run, not in the request: a longer wait is fine there.
  waitLockSeconds: z.number().int().min(0).max(3600).optional(),
});

export type FleetUpgradeBody = z.infer<typeof fleetUpgradeBodySchema>;

/** Parses `input` with `schema`; a mismatch is `INVALID_REQUEST` listing every issue. */
export function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  if (input === undefined) {
    throw new BootstrapError('INVALID_REQUEST', `${what}: a JSON body is required`, {
      reason: 'BODY_MISSING',
    });
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
    ...('keys' in issue ? { keys: issue.keys } : {}),
  }));
  const first = issues[0];
  const where = first && first.path !== '' ? `${first.path}: ` : '';
  throw new BootstrapError('INVALID_REQUEST', `${what}: ${where}${first?.message ?? 'invalid'}`, { issues });
}

/** An empty or absent body where every field is optional (`POST …/provision` with no body). */
export function parseOptionalBody<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  return parseWith(schema, input ?? {}, what);
}
