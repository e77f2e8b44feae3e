// A real holder of a sandbox's lock: a detached product.upgrade whose hook sleeps. The tests use
// it to see what other commands do while the lock is held, then end it with SIGTERM.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { present } from '../../lib/optional.ts';
import { pidAlive, readIfExists, waitFor } from './host-files.ts';
import type { Sandbox } from './sandbox.ts';

export interface HeldLock {
  journal: Journal;
  /** SIGTERM to the runner, then wait until its journal is final and its process gone. */
  release(): Promise<Journal>;
}

/**
 * Starts `product.upgrade PRODUCT VERSION` with a hook that sleeps `seconds`, and resolves once the
 * hook runs (its output is in the operation's log), so that the state dir no longer changes.
 */
export async function holdLock(
  sandbox: Sandbox,
  host: HostTarget,
  options: { product?: string; version?: string; seconds?: number; operationId?: string } = {},
): Promise<HeldLock> {
  const product = options.product ?? 'deepfiler';
  const marker = `holder of ${product} sleeps`;
  sandbox.behave(product, 'upgrade', { sleep: options.seconds ?? 30, output: marker });
  const journal = (await runCommand(
    host,
    {
      command: 'product.upgrade',
      product,
      version: options.version ?? '9.9.9',
      ...present({ operationId: options.operationId }),
    },
    { detach: true },
  )) as Journal;
  assert.equal(journal.status, 'running');
  const log = join(host.stateDir, 'logs', `${journal.id}.log`);
  await waitFor('the holder hook to run', () => readIfExists(log)?.includes(marker));
  return {
    journal,
    async release() {
      if (pidAlive(journal.pid)) process.kill(journal.pid, 'SIGTERM');
      await waitFor('the holder to exit', () => !pidAlive(journal.pid));
      return (await runCommand(host, { command: 'operation.get', operationId: journal.id })) as Journal;
    },
  };
}
