import { BootstrapError, exitCodeFor } from '../errors.ts';
import { singleHostFleet } from '../fleet/fleet.ts';
import { changesHost, rowOf } from '../operations/command-row.ts';
import { runCommand } from '../operations/index.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';
import type { CommandRequest, HostTarget, RunOptions } from '../operations/types.ts';
import { present } from '../optional.ts';
import { createDeliver } from '../orchestrate/deliver.ts';
import { keepResultInFile, runFleetOperation } from '../orchestrate/run.ts';
import type { CliOptions } from './args.ts';
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
  if (options.dryRun || options.detach || (options.callback === undefined && !isMutating(request))) {
    return print(request, await runCommand(host, request, runOptions), options, io);
  }
  const deliver = createDeliver(io.env, (record) => {
    if (record.event !== 'callback.delivered')
      io.stderr(
        `callback: ${record.event} ${record.target} attempt ${record.attempts}${record.error ? `: ${record.error}` : ''}\n`,
      );
  });
  const result = await runFleetOperation(
    { fleet: singleHostFleet(host), deliver, keepResult: keepCutResult(io) },
    {
      select: host.name,
      request,
      maxConcurrency: 1,
      canary: 0,
      healthGate: false,
      ...present({
        callbackUrl: options.callback,
        operationId: options.operationId,
        waitLockSeconds: options.waitLockSeconds,
      }),
    },
  );
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
