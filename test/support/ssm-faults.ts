/**
 * The faults the loopback SSM (ssm-server.ts) injects on demand. Per call: an HTML page instead
 * of SSM (a proxy, a login portal, a wrong URL), and throttling every Nth call. Per instance, on
 * delivery as SSM reports it: `Delayed` first, never delivered (`Undeliverable`,
 * `DeliveryTimedOut`), another final status without running, or the script killed early
 * (`ExecutionTimedOut`, as its `executionTimeout` would).
 */
import { type SsmAnswer, SsmError } from './ssm-protocol.ts';

export interface InstanceFault {
  /** Report `Delayed` for this long before delivering. */
  delayedMs?: number;
  /** Never deliver: `Failed` / `Undeliverable`. */
  undeliverable?: boolean;
  /** Never deliver: `TimedOut` / `DeliveryTimedOut`. */
  deliveryTimeout?: boolean;
  /** Kill the script after this long: `TimedOut` / `ExecutionTimedOut` (as its `executionTimeout` would). */
  executionTimeoutAfterMs?: number;
  /** End without running, with this status (e.g. `Failed` / `AccessDenied`, `InvalidPlatform`, `Terminated`). */
  final?: { status: string; details: string };
}

/** The server's per-call fault settings, and what they did. */
export interface CallFaults {
  throttleEvery: number | undefined;
  throttleError: 'ThrottlingException' | 'TooManyUpdates';
  htmlAnswer: { status: number; actions?: string[] } | undefined;
  readonly throttled: Record<string, number>;
  readonly htmlAnswered: Record<string, number>;
}

const LOGIN_PAGE = '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Proxy</body></html>\n';

/** The `received`-th call's fault: an HTML answer, a thrown throttling error, or none. */
export function callFault(faults: CallFaults, action: string, received: number): SsmAnswer | undefined {
  const html = faults.htmlAnswer;
  if (html && (html.actions === undefined || html.actions.includes(action))) {
    faults.htmlAnswered[action] = (faults.htmlAnswered[action] ?? 0) + 1;
    return { html: { status: html.status, page: LOGIN_PAGE } };
  }
  if (faults.throttleEvery && received % faults.throttleEvery === 0) {
    faults.throttled[action] = (faults.throttled[action] ?? 0) + 1;
    throw new SsmError(faults.throttleError, 'Rate exceeded');
  }
  return undefined;
}

/** How one delivery goes: its steps, each after a wait, until it ends or the script starts. */
export interface Delivery {
  later(ms: number, step: () => void): void;
  cancelled(): boolean;
  delayed(): void;
  end(status: string, details: string): void;
  run(): void;
}

/** Delivers after `deliveryMs`, through the instance's fault if it has one. */
export function deliver(fault: InstanceFault, deliveryMs: number, delivery: Delivery): void {
  const arrive = () => {
    if (delivery.cancelled()) return;
    if (fault.final) return delivery.end(fault.final.status, fault.final.details);
    if (fault.undeliverable) return delivery.end('Failed', 'Undeliverable');
    if (fault.deliveryTimeout) return delivery.end('TimedOut', 'DeliveryTimedOut');
    delivery.run();
  };
  const { delayedMs } = fault;
  if (!delayedMs) {
    delivery.later(deliveryMs, arrive);
    return;
  }
  delivery.later(deliveryMs, () => {
    if (delivery.cancelled()) return;
    delivery.delayed();
    delivery.later(delayedMs, arrive);
  });
}
