import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import type { Fleet } from '../fleet/fleet.ts';
import {
  commandArgs,
  type Deliver,
  type FleetProgressEvent,
  type FleetResult,
  type RateValue,
  runFleet,
  withCallbackOutcome,
} from '../fleet/index.ts';
import { commandWork } from '../fleet/work.ts';
import { newOperationId } from '../operations/ids.ts';
import type { CommandRequest } from '../operations/types.ts';
import { present } from '../optional.ts';

export interface OrchestrateDeps {
  fleet: Fleet;
  /** Delivers a callback (lib/callback's deliverCallback, bound to its options); none: callbacks off. */
  deliver?: Deliver;
  now?: () => Date;
}

export interface FleetRunRequest {
  select: string;
  request: CommandRequest;
  maxConcurrency?: RateValue;
  maxErrors?: RateValue;
  canary?: RateValue;
  healthGate?: boolean;
  callbackUrl?: string;
  operationId?: string;
  waitLockSeconds?: number;
  /** How long one target may take (operation and health gate). */
  targetTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (event: FleetProgressEvent) => void;
}

/**
 * The run's operation id: the run's own, else the one the request carries (CLI `--operation-id`,
 * so a retried command line answers from its journals), else a new one. Two different ids are
 * a malformed request, not a choice to make silently.
 */
function runOperationId(run: FleetRunRequest): string {
  const carried = 'operationId' in run.request ? run.request.operationId : undefined;
  if (run.operationId !== undefined && carried !== undefined && carried !== run.operationId) {
    throw new BootstrapError('INVALID_REQUEST', `two operation ids: ${run.operationId} and ${carried}`, {
      operationId: run.operationId,
      requestOperationId: carried,
    });
  }
  return run.operationId ?? carried ?? newOperationId();
}

/**
 * One command over a selection (SPEC 4), then the callback (SPEC 5) when a URL is named or the
 * first target's bootstrap.ini has `callback_url`. Long commands share one operation id on every
 * host, so a repeated run with the same id answers from the journals instead of running again.
 */
export async function runFleetOperation(deps: OrchestrateDeps, run: FleetRunRequest): Promise<FleetResult> {
  const targets = deps.fleet.select(run.select);
  const operationId = runOperationId(run);
  let configCallback: string | null = null;
  const work = commandWork(deps.fleet, run.request, operationId, {
    onConfig: (config: BootstrapConfig) => {
      configCallback ??= config.server.callbackUrl;
    },
    waitLockSeconds: run.waitLockSeconds,
  });

  const result = await runFleet({
    operationId,
    command: run.request.command,
    args: commandArgs(run.request),
    targets,
    ...present({
      maxConcurrency: run.maxConcurrency,
      maxErrors: run.maxErrors,
      canary: run.canary,
      healthGate: run.healthGate,
      targetTimeoutMs: run.targetTimeoutMs,
      signal: run.signal,
      onProgress: run.onProgress,
      now: deps.now,
    }),
    runTarget: work.runTarget,
    healthCheck: work.healthCheck,
    release: (server) => deps.fleet.release?.(server),
  });

  const url = run.callbackUrl ?? configCallback ?? undefined;
  if (url === undefined || !deps.deliver) {
    if (url !== undefined)
      throw new BootstrapError('INTERNAL', 'a callback URL is set but callbacks are not configured');
    return result;
  }
  return withCallbackOutcome(result, await deps.deliver(url, result));
}
