/**
 * The one delivery of a run's result (SPEC 5 v2): through the delivery ledger keyed by the
 * operation, so a repeated request, a redelivered event or a re-run step never POSTs again
 * after a 2xx; the body cut to 1 MiB with a `resultUrl` pointing at the whole result.
 */
import type { CallbackOutcome, FleetResult } from '../aggregate.ts';
import { type FittedResult, fitResult } from '../fit-result.ts';
import type { StepDeps } from './deps.ts';

/** The callback body: the whole result while it fits, else cut with `truncated` and `resultUrl`. */
export function callbackBody(result: FleetResult, resultUrl: string): FittedResult {
  return fitResult(result, { resultUrl });
}

/**
 * The ledger key of one server's operation: its id and server (`#` is outside operation ids). A
 * fleet run's key is its bare operation id, the key its deliveries have always had; so a fleet run
 * and a server's operation that both end under one id never take each other's delivery for their
 * own: the API refuses such a pair, but a ledger shared by every process must not depend on it.
 */
export function serverDeliveryKey(operationId: string, server: string): string {
  return `${operationId}#server#${server}`;
}

/** Delivers `result` to `url` at most once per ledger `key`; the outcome is recorded on the run. */
export async function deliverOnce(
  deps: Pick<StepDeps, 'ledger' | 'deliver' | 'store'>,
  url: string,
  result: FleetResult,
  resultUrl: string,
  key = result.operationId,
): Promise<CallbackOutcome> {
  const deliver = deps.deliver;
  const outcome = await deps.ledger.deliverOnce(key, async () =>
    deliver
      ? deliver(url, callbackBody(result, resultUrl))
      : { delivered: false, attempts: 0, lastError: 'callbacks are not configured in this process' },
  );
  const callback: CallbackOutcome = { delivered: outcome.delivered, attempts: outcome.attempts };
  if (outcome.lastError !== undefined) callback.lastError = outcome.lastError;
  return callback;
}
