import type { ProductConfig } from '../config/bootstrap-config.ts';
import type { ErrorBody } from '../errors.ts';
import type { CheckResult } from '../host/parse.ts';
import { parseLockRecord } from '../host/parse.ts';
import { type CheckPlan, renderChecks } from '../host/programs.ts';
import { type JournalRecord, journalError, journalLeftovers, parseJournalHead } from './journal.ts';
import { currentMode } from './server-mode.ts';
import { execProgram, journalPath, type Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './target.ts';

export interface HeartbeatAnswer {
  mode: string;
  role: string | null;
  products: Record<string, { version: string | null; status: string | null }>;
  lock: {
    pid: number | null;
    operation: string | null;
    command: string | null;
    started_at: string | null;
  } | null;
  lastOperation: LastOperation | null;
  uptimeSeconds: number;
  load: [number, number, number];
}

/**
 * SPEC 2.5.1's `lastOperation`: the newest journal's `id`, `command`, `status`, `finishedAt`. When
 * that journal cannot be read (corrupt, truncated, unreadable on the host), the heartbeat still
 * answers: the operation is reported `failed` (a status of SPEC 2.5's journals: no caller waits
 * for it, none takes it for a success), with `error` (SPEC 2.6's shape, as a journal's) saying why,
 * and `id` and `command` as far as they can be told (null when they cannot).
 */
export type LastOperation =
  | { id: string; command: string; status: string; finishedAt: string | null }
  | {
      id: string | null;
      command: string | null;
      status: 'failed';
      finishedAt: null;
      error: ErrorBody;
    };

export interface AppstackAnswer {
  status: 'healthy' | 'degraded' | 'down';
  products: Record<
    string,
    { status: 'healthy' | 'unhealthy'; checks: Array<{ check: string; ok: boolean; detail?: string }> }
  >;
}

/** `heartbeat.get` from a read made with `{ lock: true, newestJournal: true }`. */
export function heartbeatGet(host: HostTarget, snapshot: Snapshot): HeartbeatAnswer {
  const products: HeartbeatAnswer['products'] = {};
  for (const name of Object.keys(snapshot.config.products)) {
    const state = snapshot.products.get(name)?.state ?? {};
    products[name] = { version: state.version ?? null, status: state.status ?? null };
  }
  const lock = snapshot.answer.lock;
  const dump: JournalRecord | undefined = snapshot.answer.lastOperation;
  return {
    mode: currentMode(snapshot),
    role: snapshot.server.role ?? null,
    products,
    lock: lock?.kind === 'record' && lock.alive ? parseLockRecord(lock.record) : null,
    lastOperation: dump ? lastOperationOf(host, dump) : null,
    uptimeSeconds: snapshot.answer.facts.uptime ?? 0,
    load: snapshot.answer.facts.load ?? [0, 0, 0],
  };
}

/** The newest journal as `lastOperation`; one that cannot be read is reported, never thrown. */
function lastOperationOf(host: HostTarget, dump: JournalRecord): LastOperation {
  const parsed = parseJournalHead(dump);
  if ('value' in parsed) {
    const { id, command, status, finishedAt } = parsed.value;
    return { id, command, status, finishedAt };
  }
  // The record's id is the file's name; a host whose record gives none leaves what the text says.
  const left = journalLeftovers(dump.text);
  const id = dump.id ?? left.id;
  const error = journalError(host.name, parsed.problem, journalPath(host, id ?? '')).toJSON();
  if (id === null) {
    // Which journal it was cannot be told: the error names the folder it is in.
    const folder = `${host.stateDir}/operations/`;
    error.message = `${host.name}: the newest journal in ${folder}: ${parsed.problem.kind} journal (${parsed.problem.reason})`;
    error.details['file'] = folder;
  }
  error.details['operationId'] = id;
  return { id, command: left.command, status: 'failed', finishedAt: null, error };
}

/** The products heartbeat.appstack checks: the recorded role's (SPEC 2.5), or all while none is recorded. */
function checkedProducts(snapshot: Snapshot): ProductConfig[] {
  const { products, roles } = snapshot.config;
  const role = snapshot.server.role;
  // A recorded role that bootstrap.ini no longer names: all products, rather than no answer at all.
  const names = role === undefined ? undefined : roles[role];
  if (names === undefined) return Object.values(products);
  return names.flatMap((name) => products[name] ?? []);
}

/**
 * `heartbeat.appstack` from a read of the host (made with `checks`): its plan is the parsed
 * bootstrap.ini's checks of the recorded role's products, and the host runs exactly those — in that
 * same read when it keeps the plan made from the very files read, else in a second program (which
 * keeps the plan for next time).
 */
export async function heartbeatAppstack(
  host: HostTarget,
  snapshot: Snapshot,
  options: RunOptions,
): Promise<AppstackAnswer> {
  const planned = checkedProducts(snapshot).flatMap((p) =>
    p.checks.map((c) => ({ product: p.name, raw: c.raw })),
  );
  const plan: CheckPlan = {
    checks: planned,
    configSha256: snapshot.expectations.get('config')?.sha256 ?? '',
    serverSha256: snapshot.expectations.get('server')?.sha256 ?? null,
  };
  const kept = snapshot.answer.checkPlan;
  // The host runs a plan's checks side by side: their records come in the order they end.
  const keyOf = (product: string, check: string) => `${product}\n${check}`;
  const sorted = (keys: string[]) => JSON.stringify(keys.sort());
  const fromKept =
    kept !== undefined &&
    kept.configSha256 === plan.configSha256 &&
    kept.serverSha256 === plan.serverSha256 &&
    sorted(snapshot.answer.checks.map((c) => keyOf(c.product, c.check))) ===
      sorted(planned.map((c) => keyOf(c.product, c.raw)));
  const results =
    planned.length === 0
      ? []
      : fromKept
        ? snapshot.answer.checks
        : (await execProgram(host, renderChecks(host, plan), options)).checks;
  const found = new Map<string, CheckResult>();
  for (const result of results) found.set(keyOf(result.product, result.check), result);
  const products: AppstackAnswer['products'] = {};
  let healthy = 0;
  for (const product of checkedProducts(snapshot)) {
    const checks = product.checks.map((c) => {
      const result = found.get(keyOf(product.name, c.raw));
      const ok = result?.ok ?? false;
      const detail = result ? result.detail : 'the check did not run';
      return ok || detail === '' ? { check: c.raw, ok } : { check: c.raw, ok, detail };
    });
    const status = checks.every((c) => c.ok) ? 'healthy' : 'unhealthy';
    if (status === 'healthy') healthy++;
    products[product.name] = { status, checks };
  }
  const total = Object.keys(products).length;
  const status = healthy === total ? 'healthy' : healthy === 0 ? 'down' : 'degraded';
  return { status, products };
}
