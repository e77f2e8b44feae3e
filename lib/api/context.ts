/**
 * What every route handler gets: the API's dependencies, the validated path parameters, the
 * event, and a signal that ends the request's host work before API Gateway's 29 s limit.
 */
import { BootstrapError } from '../errors.ts';
import type { FleetResult } from '../fleet/aggregate.ts';
import type { Fleet } from '../fleet/fleet.ts';
import type { RunJob } from '../fleet/job.ts';
import type { RunStore } from '../fleet/run-store.ts';
import type { RunOptions } from '../operations/types.ts';
import type { HttpEvent, HttpResult } from './http.ts';
import { MAX_API_WAIT_LOCK_SECONDS, type PathParam } from './params.ts';

export interface ApiDeps {
  fleet: Fleet;
  /**
   * Starts a run that outlasts the request and resolves once it is started (in AWS a Step
   * Functions execution named by the operation id; in `serve`, the in-process driver).
   */
  dispatch: (job: RunJob) => Promise<void>;
  /**
   * Takes a job's operation id before anything starts (a server's operation on its host, a fleet
   * run's execution), refusing one that already names another run (INVALID_REQUEST), so the
   * refusal comes before anything changes (SPEC 2.6, 7.1 "never a second run"); answers how to
   * give it back when the start fails before anything ran. The in-process driver knows the ids it
   * runs (synchronously); the cloud claims them in the run table. Where absent, `dispatch` alone
   * refuses.
   */
  reserve?: (job: RunJob) => GiveBack | Promise<GiveBack>;
  /**
   * Sends a quick change's aggregated result (`PUT …/mode`, `PATCH …/config`) to the host's
   * `[server] callback_url`, as the CLI does for the same change (SPEC 5). It resolves once the
   * delivery is handed on (`serve` sends it in the background; the Lambda API starts a
   * ChangeCallback execution that sends it, lib/fleet/steps/change.ts); absent: no callback.
   */
  callBack?: (url: string, result: FleetResult) => Promise<void>;
  /** Fleet runs, for `GET /fleet/operations/{id}`; none: that route says they are not kept. */
  runStore?: RunStore;
  /** A URL that reads a finished run's whole result (an S3 pre-signed URL in the cloud). */
  resultUrl?: (resultLocation: string) => Promise<string>;
  /** `CALLBACK_ALLOW_PRIVATE`: callback URLs to private ranges accepted (SPEC 5). */
  allowPrivateCallbacks?: boolean;
  /** How long one request may spend on hosts; default 25 000 ms (API Gateway stops at 29 s). */
  requestTimeoutMs?: number;
  newOperationId?: () => string;
}

/** Gives a reservation back (a start that failed before anything ran). */
export type GiveBack = () => void | Promise<void>;

export interface RouteContext {
  deps: ApiDeps;
  event: HttpEvent;
  params: Partial<Record<PathParam, string>>;
  /** Aborts the request's host work when its time is up (TRANSPORT_TIMEOUT, 504). */
  signal: AbortSignal;
}

export interface Route {
  method: string;
  path: string;
  handle: (context: RouteContext) => Promise<HttpResult>;
}

/** A path parameter the route template guarantees. */
export function param(context: RouteContext, name: PathParam): string {
  const value = context.params[name];
  if (value === undefined) throw new BootstrapError('INTERNAL', `route has no {${name}} parameter`);
  return value;
}

/** `?waitLockSeconds=N` (SPEC 2.3's `waitLockSeconds` where the body cannot carry it). */
export function waitLockFromQuery(raw: string | undefined): Pick<RunOptions, 'waitLockSeconds'> {
  if (raw === undefined) return {};
  const seconds = /^[0-9]{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(seconds <= MAX_API_WAIT_LOCK_SECONDS)) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      `waitLockSeconds must be a whole number from 0 to ${MAX_API_WAIT_LOCK_SECONDS}`,
      { parameter: 'waitLockSeconds', value: raw },
    );
  }
  return { waitLockSeconds: seconds };
}

/** The run options of a request's host work. */
export function runOptions(context: RouteContext, extra: RunOptions = {}): RunOptions {
  return { signal: context.signal, ...extra };
}
