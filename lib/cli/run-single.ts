import { BootstrapError, exitCodeFor } from '../errors.ts';
import { singleHostFleet } from '../fleet/fleet.ts';
import { changesHost, rowOf } from '../operations/command-row.ts';
import { newOperationId } from '../operations/ids.ts';
import { runCommand } from '../operations/index.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import type { CommandRequest, HostTarget, RunOptions } from '../operations/types.ts';
import { present } from '../optional.ts';
import { createDeliver } from '../orchestrate/deliver.ts';
import { keepResultInFile, runFleetOperation } from '../orchestrate/run.ts';
import type { CliOptions } from './args.ts';
import { followCommand } from './follow-hint.ts';
import { onInterrupt } from './interrupt.ts';
import type { CliIo } from './io.ts';
import { formatHuman } from './output.ts';

function isMutating(request: CommandRequest): boolean {
  const { command, ...args } = request;
  return changesHost(rowOf(COMMAND_TABLE, command), args);
}

/**
 * One command on one host. With a callback URL (`--callback`, or `[server] callback_url` for a
 * mutating command) it runs as a one-target fleet operation, so the callback receives SPEC 4's
 * aggregated result; the CLI still prints the command's own answer.
 */
export async function runSingle(
  host: HostTarget,
  request: CommandRequest,
  options: CliOptions,
  io: CliIo,
): Promise<number> {
  const runOptions: RunOptions = {
    detach: options.detach,
    dryRun: options.dryRun,
    ...present({ waitLockSeconds: options.waitLockSeconds }),
  };
  if (options.callback !== undefined && (options.detach || options.dryRun)) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      `--callback cannot go with ${options.detach ? '--detach' : '--dry-run'}: the CLI would leave before the end`,
    );
  }
  if (options.detach && !options.dryRun) return runDetached(host, request, runOptions, options, io);
  if (options.dryRun || (options.callback === undefined && !isMutating(request))) {
    return print(request, await runCommand(host, request, runOptions), options, io);
  }
  const deliver = createDeliver(io.env, (record) => {
    if (record.event !== 'callback.delivered')
      io.stderr(
        `callback: ${record.event} ${record.target} attempt ${record.attempts}${record.error ? `: ${record.error}` : ''}\n`,
      );
  });
  // A long command is followed to its end: its id is known from the start, so that an interrupt
  // can say which operation goes on (interrupt.ts).
  const long = rowOf(COMMAND_TABLE, request.command).long;
  const operationId = options.operationId ?? (long ? newOperationId() : undefined);
  const stop = new AbortController();
  const release = long
    ? onInterrupt(
        io,
        options,
        { command: request.command, operationId: operationId!, where: host.name },
        stop,
      )
    : () => {};
  let result: Awaited<ReturnType<typeof runFleetOperation>>;
  try {
    result = await runFleetOperation(
      { fleet: singleHostFleet(host), deliver, keepResult: keepCutResult(io) },
      {
        select: host.name,
        request,
        maxConcurrency: 1,
        canary: 0,
        healthGate: false,
        signal: stop.signal,
        ...present({
          callbackUrl: options.callback,
          operationId,
          waitLockSeconds: options.waitLockSeconds,
        }),
      },
    );
  } finally {
    release();
  }
  const target = result.targets[0];
  if (!target || target.status === 'skipped')
    throw new BootstrapError('INTERNAL', 'the operation did not run');
  // SPEC 5: a callback that finally failed is recorded in the result, not only logged on stderr.
  const failed = result.callback?.delivered === false ? { callback: result.callback } : {};
  if (target.status === 'succeeded') return print(request, withFields(target.result, failed), options, io);
  const { journal, appstack } = target.error.details as { journal?: unknown; appstack?: unknown };
  if (journal !== undefined) return print(request, withFields(journal, failed), options, io);
  if (appstack !== undefined) return print(request, withFields(appstack, failed), options, io);
  throw new BootstrapError(target.error.code, target.error.message, { ...target.error.details, ...failed });
}

/**
 * `--detach`: the journal as soon as the operation runs. A `[server] callback_url` is not called
 * then (SPEC 5 posts "once it ends", and the CLI is gone by then; an explicit `--callback` with
 * `--detach` is refused above): the operator is told so on stderr, with how to follow it.
 */
async function runDetached(
  host: HostTarget,
  request: CommandRequest,
  runOptions: RunOptions,
  options: CliOptions,
  io: CliIo,
): Promise<number> {
  let configured: string | null = null;
  const answer = await runCommand(host, request, {
    ...runOptions,
    onConfig: (config) => {
      configured ??= config.server.callbackUrl;
    },
  });
  const id = (answer as { id?: unknown }).id;
  if (configured !== null && typeof id === 'string') {
    io.stderr(
      `warning: [server] callback_url is not called for ${id}: the CLI does not follow a detached operation;` +
        ` follow it with: ${followCommand(options, id)} (or run without --detach to be called back)\n`,
    );
  }
  return print(request, answer, options, io);
}

function withFields(answer: unknown, fields: Record<string, unknown>): unknown {
  return typeof answer === 'object' && answer !== null ? { ...answer, ...fields } : answer;
}

function print(request: CommandRequest, answer: unknown, options: CliOptions, io: CliIo): number {
  io.stdout(options.json ? `${JSON.stringify(answer)}\n` : `${formatHuman(request.command, answer)}\n`);
  // SPEC 2.6: a failed journal's code, UNHEALTHY for an appstack that ran but is not healthy.
  const dry = options.dryRun || (answer as { dryRun?: unknown }).dryRun === true;
  const code = dry ? undefined : rowOf(COMMAND_TABLE, request.command).verdict?.(answer);
  return code === undefined ? 0 : exitCodeFor(code);
}

/**
 * Where a callback body cut to 1 MiB points (SPEC 5 v2), for this and fleet runs: the CLI serves
 * nothing, so the whole result goes to a file under the temp dir (the CLI's own TMPDIR) and
 * stderr says which.
 */
export function keepCutResult(io: CliIo) {
  return keepResultInFile({
    dir: io.env['TMPDIR'] || undefined,
    onKept: (file) => io.stderr(`callback: the body is cut to 1 MiB; the whole result is in ${file}\n`),
  });
}
