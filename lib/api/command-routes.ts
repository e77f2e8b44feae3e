/**
 * The routes of the command table's rows (lib/operations/registry.ts), made the same way for
 * every command: the query and the body are read and validated before any host is reached, the
 * row's `args` makes the arguments, and the command runs on `{server}`.
 *
 * - A quick command answers 200 with SPEC 2.5.1's JSON. One that changes the host takes
 *   `waitLockSeconds` in a `fields` body and, where the body cannot carry it, as `?waitLockSeconds=N`.
 * - A long command answers 202 at once (long-routes.ts); its body also takes `callbackUrl`,
 *   `operationId` and `waitLockSeconds`.
 * - A quick command that changes the host calls back to the host's `[server] callback_url`, as
 *   the CLI does for the same change.
 */
import * as z from 'zod';
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { aggregate, commandArgs, type TargetReport } from '../fleet/aggregate.ts';
import type { LongRequest } from '../fleet/job.ts';
import { failedReport } from '../fleet/target.ts';
import {
  type AnyCommandRow,
  type BodySpec,
  type CommandRoute,
  type CommandTable,
  changesHost,
} from '../operations/command-row.ts';
import { newOperationId } from '../operations/ids.ts';
import { runRow } from '../operations/index.ts';
import type { CommandRequest, HostTarget, RunOptions } from '../operations/types.ts';
import { present } from '../optional.ts';
import { param, type Route, type RouteContext, runOptions, waitLockFromQuery } from './context.ts';
import { jsonResult, readJsonBody, readQuery } from './http.ts';
import { startServerOperation } from './long-routes.ts';
import { LONG_BODY_FIELDS, type PathParam, parseWith, waitLockField } from './params.ts';

type Spec = CommandRoute<object, BodySpec | undefined>;

/** A route's body schema: its fields and what the API adds to them, or the whole value. */
function bodySchemaOf(spec: Spec, extra: z.ZodRawShape): z.ZodType | undefined {
  if (spec.body === undefined) return undefined;
  return 'whole' in spec.body ? spec.body.whole : z.strictObject({ ...spec.body.fields, ...extra });
}

/** `PUT mode`, `POST upgrade`: how body errors name the route. */
function whatOf(spec: Spec): string {
  const literal = spec.path.split('/').filter((part) => part !== '' && !part.startsWith('{'));
  return `${spec.method} ${literal.at(-1) ?? spec.path}`;
}

function readBody(context: RouteContext, schema: z.ZodType | undefined, what: string): unknown {
  if (schema === undefined) return undefined;
  // A body every field of which is optional may be left out (`POST …/provision` with none).
  const optional = schema.safeParse({}).success;
  const body = readJsonBody(context.event);
  return parseWith(schema, optional ? (body ?? {}) : body, what);
}

function argsOf(context: RouteContext, spec: Spec, query: Record<string, string>, body: unknown): object {
  return spec.args({ path: (name) => param(context, name as PathParam), query, body: body as never });
}

function quickRoute(row: AnyCommandRow, spec: Spec): Route {
  const takesLock = row.mutates === 'always' || (row.mutates === 'when-given' && spec.body !== undefined);
  const query = [...(spec.query ?? []), ...(takesLock ? ['waitLockSeconds'] : [])];
  const schema = bodySchemaOf(spec, takesLock ? { waitLockSeconds: waitLockField.optional() } : {});
  const what = whatOf(spec);
  return {
    method: spec.method,
    path: spec.path,
    handle: async (context) => {
      const given = readQuery(context.event, query);
      const body = readBody(context, schema, what);
      // Only a body of fields carries it: in a whole body (PATCH config's pairs) it is a key.
      const fields = spec.body !== undefined && 'fields' in spec.body;
      const fromBody = fields ? (body as { waitLockSeconds?: number }).waitLockSeconds : undefined;
      const waitLockSeconds =
        fromBody ?? (takesLock ? waitLockFromQuery(given['waitLockSeconds']).waitLockSeconds : undefined);
      const args = argsOf(context, spec, given, body);
      const host = context.deps.fleet.target(param(context, 'server'));
      const options = runOptions(context, present({ waitLockSeconds }));
      if (!changesHost(row, args)) return jsonResult(200, await runRow(row, host, args, options));
      return jsonResult(200, await changeAndCallBack(context, row, host, args, options));
    },
  };
}

/**
 * A quick change as the CLI makes it (lib/cli/run-single.ts): under an operation id of its own,
 * and, when the host's bootstrap.ini names `[server] callback_url`, its result — SPEC 4's
 * aggregated result of one target, failed ones included — goes there (SPEC 5). The answer is the
 * command's own, whatever becomes of the callback.
 */
async function changeAndCallBack(
  context: RouteContext,
  row: AnyCommandRow,
  host: HostTarget,
  args: object,
  options: RunOptions,
): Promise<unknown> {
  const callBack = context.deps.callBack;
  if (callBack === undefined) return runRow(row, host, args, options);
  const operationId = (context.deps.newOperationId ?? newOperationId)();
  const startedAt = new Date();
  let url: string | undefined;
  const onConfig = (config: BootstrapConfig) => {
    url ??= config.server.callbackUrl ?? undefined;
  };
  let answer: unknown;
  let report: TargetReport;
  let failure: { error: unknown } | undefined;
  try {
    answer = await runRow(row, host, args, { ...options, operationId, onConfig });
    report = { server: host.name, status: 'succeeded', result: answer };
  } catch (error) {
    failure = { error };
    report = failedReport(host.name, error);
  }
  if (url !== undefined) {
    const request = { command: row.name, ...args } as CommandRequest;
    await callBack(
      url,
      aggregate({
        operationId,
        command: request.command,
        args: commandArgs(request),
        startedAt,
        finishedAt: new Date(),
        targets: [report],
      }),
    );
  }
  if (failure) throw failure.error;
  return answer;
}

function longRoute(row: AnyCommandRow, spec: Spec): Route {
  const schema = bodySchemaOf(spec, LONG_BODY_FIELDS);
  const what = whatOf(spec);
  return {
    method: spec.method,
    path: spec.path,
    handle: async (context) => {
      const given = readQuery(context.event, spec.query ?? []);
      const body = (readBody(context, schema, what) ?? {}) as Parameters<typeof startServerOperation>[3];
      const request = { command: row.name, ...argsOf(context, spec, given, body) } as LongRequest;
      return startServerOperation(context, row, request, body);
    },
  };
}

/** Every route of every row of `table`, in the table's order. */
export function commandRoutes(table: CommandTable): Route[] {
  return table.flatMap((row) =>
    row.routes.map((spec: Spec) => (row.long ? longRoute(row, spec) : quickRoute(row, spec))),
  );
}
