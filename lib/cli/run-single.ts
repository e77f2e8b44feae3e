import { BootstrapError, exitCodeFor, isErrorCode } from '../errors.ts';
import { singleHostFleet } from '../fleet/fleet.ts';
import { runCommand } from '../operations/index.ts';
import {
  type CommandRequest,
  type HostTarget,
  MUTATING_COMMANDS,
  type RunOptions,
} from '../operations/types.ts';
import { createDeliver } from '../orchestrate/deliver.ts';
import { runFleetOperation } from '../orchestrate/run.ts';
import type { CliOptions } from './args.ts';
import type { CliIo } from './io.ts';
import { formatHuman } from './output.ts';

function isMutating(request: CommandRequest): boolean {
  return (
    MUTATING_COMMANDS.has(request.command) ||
    (request.command === 'server.mode' && request.mode !== undefined)
  );
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
    ...(options.waitLockSeconds === undefined ? {} : { waitLockSeconds: options.waitLockSeconds }),
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
    { fleet: singleHostFleet(host), deliver },
    {
      select: host.name,
      request,
      maxConcurrency: 1,
      canary: 0,
      healthGate: false,
      ...(options.callback === undefined ? {} : { callbackUrl: options.callback }),
      ...(options.operationId === undefined ? {} : { operationId: options.operationId }),
      ...(options.waitLockSeconds === undefined ? {} : { waitLockSeconds: options.waitLockSeconds }),
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
  const a = answer as { status?: string; error?: { code?: unknown } | null };
  // SPEC 2.6: an appstack that ran but is not healthy is UNHEALTHY's exit code.
  if (request.command === 'heartbeat.appstack' && !options.dryRun)
    return a.status === 'healthy' ? 0 : exitCodeFor('UNHEALTHY');
  if (a.status !== 'failed') return 0;
  return isErrorCode(a.error?.code) ? exitCodeFor(a.error.code) : 1;
}
