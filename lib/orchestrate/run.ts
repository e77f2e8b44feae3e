import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BootstrapError, errorBody } from '../errors.ts';
import { voteConfigCallback } from '../fleet/config-callback.ts';
import { type FittedResult, fitResult, fitsWhole } from '../fleet/fit-result.ts';
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
  /**
   * Keeps the whole result where a callback body cut to 1 MiB points (SPEC 5 v2) and answers that
   * URL; called only when the body is cut. Default `keepResultInFile()`: no server runs here.
   */
  keepResult?: KeepResult;
  now?: () => Date;
  /**
   * Told what the operator should know but that is no error: that the hosts disagree on
   * `[server] callback_url`, so none is used. Default: a `callback: …` line on stderr, as the
   * CLI's other callback lines.
   */
  warn?: (message: string) => void;
}

export type KeepResult = (result: FleetResult) => Promise<string>;

export interface KeepResultInFileOptions {
  /** The folder the result's own folder is made in; default the OS temp dir. */
  dir?: string | undefined;
  /** Told the file once it is written (the CLI says where on stderr). */
  onKept?: (file: string) => void;
}

/**
 * Keeps a result in `<dir>/cloudiq-bootstrap-XXXXXX/<operationId>.json` and answers its `file://`
 * URL. A process that serves nothing (the CLI) has no `/fleet/operations/{id}` to point at, so
 * the URL is honest only on the machine that ran it, and says so by being a file. The folder is
 * made fresh (mkdtemp: owner-only, never an existing path or a link planted in its place) and the
 * file is owner-only too: hook output and errors are no one else's to read.
 */
export function keepResultInFile(options: KeepResultInFileOptions = {}): KeepResult {
  return async (result) => {
    const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'cloudiq-bootstrap-'));
    const file = join(dir, `${result.operationId}.json`);
    await writeFile(file, JSON.stringify(result), { mode: 0o600, flag: 'wx' });
    options.onKept?.(file);
    return pathToFileURL(file).href;
  };
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
 * One command over a selection (SPEC 4), then the callback (SPEC 5) when a URL is named, or else
 * when every target whose bootstrap.ini was read names the same `callback_url` (hosts that
 * disagree name none, with a warning: one host's file must not send every target's result
 * elsewhere). Long commands share one operation id on every host, so a repeated run with the same
 * id answers from the journals instead of running again.
 */
export async function runFleetOperation(deps: OrchestrateDeps, run: FleetRunRequest): Promise<FleetResult> {
  const targets = deps.fleet.select(run.select);
  const operationId = runOperationId(run);
  const vote = voteConfigCallback();
  const work = commandWork(deps.fleet, run.request, operationId, {
    onConfig: vote.onConfig,
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

  let url = run.callbackUrl;
  if (url === undefined) {
    url = vote.agreed();
    const disagreement = vote.disagreement();
    if (disagreement !== undefined) (deps.warn ?? warnProcess)(disagreement);
  }
  if (url === undefined || !deps.deliver) {
    if (url !== undefined)
      throw new BootstrapError('INTERNAL', 'a callback URL is set but callbacks are not configured');
    return result;
  }
  let body: FittedResult;
  try {
    body = await callbackBody(deps, result);
  } catch (error) {
    // The run is over and stands as it ended: a body that cannot be made is a callback that
    // failed (SPEC 5), recorded in the result, never the operation's own error.
    const lastError = `the whole result could not be kept for resultUrl: ${errorBody(error).message}`;
    return withCallbackOutcome(result, { delivered: false, attempts: 0, lastError });
  }
  return withCallbackOutcome(result, await deps.deliver(url, body));
}

/** Only the CLI runs fleets through here: its callback lines go to stderr (`callback: …`) too. */
function warnProcess(message: string): void {
  process.stderr.write(`callback: ${message}\n`);
}

/**
 * The callback body as the API and the cloud send it (fit-result.ts): the whole result while it
 * fits in 1 MiB; else cut, with `resultUrl` at the whole result, kept only then.
 */
async function callbackBody(deps: OrchestrateDeps, result: FleetResult): Promise<FittedResult> {
  if (fitsWhole(result)) return result;
  const keep = deps.keepResult ?? keepResultInFile();
  return fitResult(result, { resultUrl: await keep(result) });
}
