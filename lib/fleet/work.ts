/**
 * What running one command on one target of a fleet means: the command on the host (long ones
 * under the run's operation id, a failed journal being the target's failure), and
 * `heartbeat.appstack` for the health gate. Every driver of a fleet run binds its targets here,
 * so an in-process run, a state machine step and `serve` run exactly the same thing.
 */
import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { BootstrapError, isErrorCode } from '../errors.ts';
import { type AppstackAnswer, type Journal, runCommand } from '../operations/index.ts';
import { type CommandRequest, LONG_COMMANDS } from '../operations/types.ts';
import { present } from '../optional.ts';
import type { Fleet } from './fleet.ts';
import type { HealthCheck, RunTarget } from './target.ts';

/** How a fleet run reaches its targets; the steps take it injected, so a test may use a double. */
export interface TargetWork {
  runTarget: RunTarget;
  healthCheck: HealthCheck;
}

export interface WorkOptions {
  waitLockSeconds?: number | undefined;
  /** Each host's parsed bootstrap.ini, as it is read. */
  onConfig?: ((config: BootstrapConfig) => void) | undefined;
}

/** A finished journal that failed is the target's failure, with the journal in `details`. */
export function journalOutcome(journal: Journal): Journal {
  if (journal.status === 'failed' && journal.error) {
    const code = isErrorCode(journal.error.code) ? journal.error.code : 'INTERNAL';
    throw new BootstrapError(code, journal.error.message, { ...journal.error.details, journal });
  }
  return journal;
}

/** SPEC 2.6: an appstack that is not `healthy` makes its target count as failed (`UNHEALTHY`), with the answer in `details`. */
export function assertHealthy(server: string, appstack: AppstackAnswer): void {
  if (appstack.status === 'healthy') return;
  const failing = Object.entries(appstack.products).flatMap(([product, p]) =>
    p.checks.filter((c) => !c.ok).map((c) => `${product} ${c.check}`),
  );
  throw new BootstrapError(
    'UNHEALTHY',
    `appstack is ${appstack.status}${failing.length ? `: failing ${failing.join(', ')}` : ''}`,
    { server, appstack },
  );
}

/** `request` on the fleet's hosts; long commands take `operationId` so that a repeat follows instead of running again. */
export function commandWork(
  fleet: Fleet,
  request: CommandRequest,
  operationId: string,
  options: WorkOptions = {},
): TargetWork {
  const long = LONG_COMMANDS.has(request.command);
  const command = (long ? { ...request, operationId } : request) as CommandRequest;
  // Quick changes take the run's id in their options (long ones carry it in the request).
  const runOptions = (signal: AbortSignal) => ({
    signal,
    ...(long ? {} : { operationId }),
    ...present({ onConfig: options.onConfig, waitLockSeconds: options.waitLockSeconds }),
  });
  return {
    runTarget: async (server, signal) => {
      const answer = await runCommand(fleet.target(server), command, runOptions(signal));
      if (command.command === 'heartbeat.appstack') assertHealthy(server, answer as AppstackAnswer);
      return { status: 'succeeded', result: long ? journalOutcome(answer as Journal) : answer };
    },
    healthCheck: async (server, signal) => {
      const appstack = (await runCommand(
        fleet.target(server),
        { command: 'heartbeat.appstack' },
        runOptions(signal),
      )) as AppstackAnswer;
      return { status: appstack.status, products: appstack.products };
    },
  };
}

/** `[server] callback_url` of one host, read with `server.mode` (a read: no lock, no change). */
export async function configCallbackUrl(
  fleet: Fleet,
  server: string | undefined,
): Promise<string | undefined> {
  if (server === undefined) return undefined;
  let url: string | undefined;
  try {
    await runCommand(
      fleet.target(server),
      { command: 'server.mode' },
      {
        onConfig: (config) => {
          url ??= config.server.callbackUrl ?? undefined;
        },
      },
    );
  } catch {
    // An unreadable host: no callback from its configuration.
  }
  return url;
}
