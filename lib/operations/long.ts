import type { ProductConfig } from '../config/bootstrap-config.ts';
import { assertOperationId, VERSION_PATTERN, valueProblem } from '../config/names.ts';
import { ownValue } from '../config/records.ts';
import { BootstrapError } from '../errors.ts';
import { type HostAnswer, parseLockRecord } from '../host/parse.ts';
import {
  type FileWrite,
  type HookStep,
  type LongPlan,
  NOW_MARKER,
  renderFollow,
  renderLong,
} from '../host/programs.ts';
import { newOperationId } from './ids.ts';
import { type Journal, readJournal } from './journal.ts';
import { productFile, requireProduct } from './product.ts';
import { currentMode } from './server-mode.ts';
import { execProgram, expect, productPath, type Snapshot, serverPath } from './snapshot.ts';
import { type ProductFile, renderProductIni, renderServerIni } from './state.ts';
import type { HostTarget, RunOptions } from './target.ts';
import { type DryRun, runWriteLoop } from './write-loop.ts';

/** How long one follow program waits on the host for the journal to become final. */
const FOLLOW_WAIT_SECONDS = 20;

type LongRequest =
  | { command: 'server.provision'; role?: string; operationId?: string }
  | { command: 'product.upgrade'; product: string; version: string; operationId?: string };

/** `BOOTSTRAP_CFG_<KEY>`: upper case, `.` and `-` as `_` (SPEC 2.4). */
export function configEnv(config: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config))
    env[`BOOTSTRAP_CFG_${key.toUpperCase().replace(/[.-]/g, '_')}`] = value;
  return env;
}

function hookPath(host: HostTarget, product: ProductConfig, action: 'provision' | 'upgrade'): string {
  const path = product[action];
  if (path === null) {
    throw new BootstrapError(
      'INVALID_SCRIPT',
      `${host.name}: ${product.name} has no ${action} hook in bootstrap.ini`,
      {
        server: host.name,
        product: product.name,
        action,
        reason: 'missing',
      },
    );
  }
  return path;
}

function stateWrite(
  host: HostTarget,
  product: string,
  file: ProductFile,
  state: ProductFile['state'],
): FileWrite {
  return {
    path: productPath(host, product),
    content: renderProductIni({ config: file.config, state: { ...file.state, ...state } }),
  };
}

function planProvision(
  host: HostTarget,
  snapshot: Snapshot,
  id: string,
  request: { role?: string },
  options: RunOptions,
): LongPlan {
  const role = request.role ?? snapshot.server.role;
  const products = role === undefined ? undefined : ownValue(snapshot.config.roles, role);
  if (role === undefined || !products) {
    throw new BootstrapError(
      'UNKNOWN_ROLE',
      role === undefined
        ? `${host.name}: no role recorded; name one with --role`
        : `${host.name}: no role ${JSON.stringify(role)} in ${snapshot.config.file}`,
      { server: host.name, role: role ?? null, known: Object.keys(snapshot.config.roles) },
    );
  }
  const touch = { updated_at: NOW_MARKER, last_operation: id };
  const steps: HookStep[] = products.map((name) => {
    const config = requireProduct(snapshot, host, name);
    const file = productFile(snapshot, name);
    return {
      product: name,
      action: 'provision',
      path: hookPath(host, config, 'provision'),
      env: configEnv(file.config),
      before: stateWrite(host, name, file, { status: 'provisioning', ...touch }),
      onSuccess: stateWrite(host, name, file, { status: 'provisioned', ...touch }),
      onFailure: stateWrite(host, name, file, { status: 'failed', ...touch }),
    };
  });
  const mode = snapshot.config.server.provisionedMode ?? currentMode(snapshot);
  const server = {
    ...snapshot.server,
    mode,
    role,
    provisioned_at: NOW_MARKER,
    updated_at: NOW_MARKER,
    last_operation: id,
  };
  return {
    operationId: id,
    command: 'server.provision',
    args: { role },
    waitLockSeconds: options.waitLockSeconds ?? 0,
    hookTimeout: snapshot.config.server.hookTimeout,
    expect: expect(snapshot, 'config', 'server', ...products.map((p) => `product:${p}`)),
    steps,
    onSuccess: { path: serverPath(host), content: renderServerIni(server) },
  };
}

function planUpgrade(
  host: HostTarget,
  snapshot: Snapshot,
  id: string,
  request: { product: string; version: string },
  options: RunOptions,
): LongPlan {
  const config = requireProduct(snapshot, host, request.product);
  const file = productFile(snapshot, request.product);
  const touch = { updated_at: NOW_MARKER, last_operation: id };
  return {
    operationId: id,
    command: 'product.upgrade',
    args: { product: request.product, version: request.version },
    waitLockSeconds: options.waitLockSeconds ?? 0,
    hookTimeout: snapshot.config.server.hookTimeout,
    expect: expect(snapshot, 'config', `product:${request.product}`),
    steps: [
      {
        product: request.product,
        action: 'upgrade',
        path: hookPath(host, config, 'upgrade'),
        version: request.version,
        env: configEnv(file.config),
        before: stateWrite(host, request.product, file, { status: 'upgrading', ...touch }),
        onSuccess: stateWrite(host, request.product, file, {
          version: request.version,
          status: 'provisioned',
          ...touch,
        }),
        onFailure: stateWrite(host, request.product, file, { status: 'failed', ...touch }),
      },
    ],
  };
}

function validate(request: LongRequest): void {
  if (request.operationId !== undefined) assertOperationId(request.operationId);
  if (
    request.command === 'product.upgrade' &&
    (!VERSION_PATTERN.test(request.version) || valueProblem(request.version))
  ) {
    throw new BootstrapError('INVALID_REQUEST', `invalid version ${JSON.stringify(request.version)}`, {
      version: request.version,
      pattern: VERSION_PATTERN.source,
    });
  }
}

function journalFrom(host: HostTarget, answer: HostAnswer, id: string): Journal | null {
  const dump = answer.journals.get(id);
  return dump ? readJournal(host.name, dump) : null;
}

/** Starts `server.provision` / `product.upgrade` and returns its journal once it runs (or its final one). */
export async function startLong(
  host: HostTarget,
  request: LongRequest,
  options: RunOptions,
): Promise<Journal | DryRun> {
  validate(request);
  const id = request.operationId ?? newOperationId();
  return runWriteLoop(host, options, { journalId: id }, (snapshot) => {
    const existing = journalFrom(host, snapshot.answer, id);
    if (existing) return { answered: existing };
    const plan =
      request.command === 'server.provision'
        ? planProvision(host, snapshot, id, request, options)
        : planUpgrade(host, snapshot, id, request, options);
    return {
      program: renderLong(host, plan),
      // The lock held by this very operation (a concurrent start with the same id took it first)
      // is not a refusal: that runner writes this id's journal, which the next read answers with.
      ownsLock: (record) => parseLockRecord(record).operation === id,
      finish: (answer) => {
        const journal = journalFrom(host, answer, id);
        if (journal) return journal;
        const said = answer.stderr.trim().split('\n').at(-1) ?? '';
        throw new BootstrapError(
          'INTERNAL',
          `${host.name}: the operation did not start${said === '' ? '' : `: ${said}`}`,
          { server: host.name, operationId: id, stderr: answer.stderr },
        );
      },
    };
  });
}

/**
 * A long command to its end (SPEC 6): started, then followed until its journal is final; with
 * `detach`, or when the start already answers a final journal or a dry run, that answer.
 */
export async function runLong(
  host: HostTarget,
  request: LongRequest,
  options: RunOptions,
): Promise<Journal | DryRun> {
  const started = await startLong(host, request, options);
  if ('dryRun' in started || options.detach || started.status !== 'running') return started;
  return followOperation(host, started.id, options);
}

/** Waits for an operation's journal to be final, in long polls on the host. */
export async function followOperation(
  host: HostTarget,
  operationId: string,
  options: RunOptions,
): Promise<Journal> {
  for (;;) {
    if (options.signal?.aborted) {
      throw new BootstrapError(
        'TRANSPORT_TIMEOUT',
        `${host.name}: stopped following ${operationId}; it goes on on the host`,
        {
          server: host.name,
          operationId,
        },
      );
    }
    const answer = await execProgram(host, renderFollow(host, operationId, FOLLOW_WAIT_SECONDS), {
      ...options,
      timeoutMs: Math.max(options.timeoutMs ?? 0, (FOLLOW_WAIT_SECONDS + 30) * 1000),
    });
    const journal = journalFrom(host, answer, operationId);
    if (!journal) throw operationNotFound(host, operationId);
    if (journal.status !== 'running') return journal;
  }
}

export function operationNotFound(host: HostTarget, operationId: string): BootstrapError {
  return new BootstrapError('INVALID_REQUEST', `${host.name}: no operation ${operationId}`, {
    server: host.name,
    operationId,
  });
}

/** `operation.get ID`. */
export async function operationGet(
  host: HostTarget,
  operationId: string,
  options: RunOptions,
): Promise<Journal> {
  assertOperationId(operationId);
  const answer = await execProgram(host, renderFollow(host, operationId, 0), options);
  const journal = journalFrom(host, answer, operationId);
  if (!journal) throw operationNotFound(host, operationId);
  return journal;
}
