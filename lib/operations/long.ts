/**
 * The long commands' runner (SPEC 2.5, 6): a long command's operation file says what it runs
 * (`LongStart.plan`: its hooks as steps, planned from one read of the host); this starts it in
 * a runner of its own under the lock, with a journal, and follows the journal to its end.
 */
import { assertOperationId } from '../config/names.ts';
import { BootstrapError } from '../errors.ts';
import { type HostAnswer, parseLockRecord } from '../host/parse.ts';
import { type LongPlan, renderFollow, renderLong } from '../host/programs.ts';
import { present } from '../optional.ts';
import { newOperationId } from './ids.ts';
import { type Journal, readJournal } from './journal.ts';
import { assertSameRequest } from './same-request.ts';
import { execProgram, journalPath, type Snapshot } from './snapshot.ts';
import type { HostTarget, RunOptions } from './target.ts';
import { type DryRun, runWriteLoop } from './write-loop.ts';

/** How long one follow program waits on the host for the journal to become final. */
const FOLLOW_WAIT_SECONDS = 20;

/** What a long command plans from the host's state: the journal's `args`, its hooks, what must be unchanged. */
export type LongSteps = Pick<LongPlan, 'args' | 'expect' | 'steps' | 'onSuccess'>;

/** A long command as its operation file hands it to the runner. */
export interface LongStart {
  /** The command's name, as the lock and the journal record it. */
  command: string;
  /** The id asked for (`--operation-id`, `Idempotency-Key`); a new one when absent. */
  operationId?: string;
  /** The only products whose files the plan needs (default: every file in products/). */
  products?: readonly string[];
  /** The arguments as the request states them (a provision's role only when given). */
  stated: Readonly<Record<string, string>>;
  /** Plans operation `id` from one read (throws INVALID_* / UNKNOWN_* before anything runs). */
  plan(host: HostTarget, snapshot: Snapshot, id: string): LongSteps;
}

/** Operation `id`'s journal in a host's answer; one that is no journal is a CONFIG_ERROR naming its file. */
function journalFrom(host: HostTarget, answer: HostAnswer, id: string): Journal | null {
  const dump = answer.journals.get(id);
  return dump ? readJournal(host.name, dump, journalPath(host, id)) : null;
}

/** Starts a long command and returns its journal once it runs (or its final one, when the id already ran). */
export async function startLong(
  host: HostTarget,
  request: LongStart,
  options: RunOptions,
): Promise<Journal | DryRun> {
  if (request.operationId !== undefined) assertOperationId(request.operationId);
  const id = request.operationId ?? newOperationId();
  const read = { journalId: id, ...present({ products: request.products }) };
  return runWriteLoop(host, options, read, (snapshot) => {
    const existing = journalFrom(host, snapshot.answer, id);
    if (existing) {
      // An id that already has a journal answers it (SPEC 2.5), for the same request only
      // (same-request.ts, as the API and the runs' claims decide it): what the request states is
      // compared, so an unknown product or role is never answered with another request's
      // journal, and `server.provision` without `--role` answers the journal of the role it ran.
      const stated = { command: request.command, args: request.stated };
      assertSameRequest(id, stated, existing, host.name);
      return { answered: existing };
    }
    const plan: LongPlan = {
      ...request.plan(host, snapshot, id),
      operationId: id,
      command: request.command,
      waitLockSeconds: options.waitLockSeconds ?? 0,
      hookTimeout: snapshot.config.server.hookTimeout,
    };
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
  request: LongStart,
  options: RunOptions,
): Promise<Journal | DryRun> {
  const started = await startLong(host, request, options);
  if ('dryRun' in started || options.detach || started.status !== 'running') return started;
  return followOperation(host, started.id, options);
}

/**
 * Waits for an operation's journal to be final, in long polls on the host. The operation is one
 * this process started (or found running under the id it was asked to start): its journal was
 * there, so one that vanishes, or stops being a journal, while it runs is not the caller's doing
 * (see `journalLost`).
 */
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
    let journal: Journal | null;
    try {
      journal = journalFrom(host, answer, operationId);
    } catch (error) {
      if (error instanceof BootstrapError && error.code === 'CONFIG_ERROR') {
        throw journalLost(host, operationId, 'became unreadable', error);
      }
      throw error;
    }
    if (!journal) throw journalLost(host, operationId, 'vanished');
    if (journal.status !== 'running') return journal;
  }
}

/**
 * The journal of an operation being followed is gone (or no longer a journal) while the operation
 * ran: something on the host removed it, most likely one of its hooks (SPEC 2.4: they run with
 * `BOOTSTRAP_STATE_DIR`), or the state dir with it. The operation ran and its outcome cannot be
 * told, so this is `HOOK_FAILED` (SPEC 2.6: exit 4, the operation failed while running its hooks;
 * the runner reports a run stopped by a signal the same way). Not `INVALID_REQUEST` (the caller
 * asked for nothing malformed), not `INTERNAL` (no bug of the tool), not `CONFIG_ERROR` (SPEC 2.6
 * promises that nothing changed after one, and hooks may have run).
 */
function journalLost(
  host: HostTarget,
  operationId: string,
  how: 'vanished' | 'became unreadable',
  cause?: BootstrapError,
): BootstrapError {
  const file = journalPath(host, operationId);
  return new BootstrapError(
    'HOOK_FAILED',
    `${host.name}: the journal of ${operationId} (${file}) ${how} while the operation ran` +
      ` (a hook, or someone else, removed or changed it, or the state dir); its outcome is unknown`,
    {
      server: host.name,
      operationId,
      file,
      lost: how === 'vanished' ? 'vanished' : 'unreadable',
      ...(cause ? { reason: cause.message } : {}),
    },
    { cause },
  );
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
