/**
 * What the tests of a long operation's runner share: what a test file makes and removes at its end
 * (`useHostScratch`), the host code's cache installed and sound before a test starts
 * (`warmCache`), and the check that one operation ran exactly once (`assertRanOnce`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { assertCacheSound } from '../support/host-code.ts';
import { createBusyboxDir } from '../support/host-files.ts';
import { createSandbox, type Sandbox, type SandboxOptions } from '../support/sandbox.ts';

export interface HostScratch {
  /** A folder of busybox's applets for `sevenShells` (made at first use). */
  readonly busybox: { dir: string; shell: string };
  /** A new sandbox host. */
  sandbox(options?: SandboxOptions): Sandbox;
  /** A new empty folder in the system's temp dir. */
  tempDir(prefix: string): string;
  /** `undo` runs at the end too (a process to kill). */
  onCleanup(undo: () => void): void;
}

/**
 * Everything made through the answer is removed in an `after` (of the file, or of the calling
 * `describe`), the last made first: a process started on a sandbox is killed before the sandbox
 * goes.
 */
export function useHostScratch(): HostScratch {
  const cleanups: Array<() => void> = [];
  let busybox: ReturnType<typeof createBusyboxDir> | undefined;
  after(() => {
    for (const undo of cleanups.splice(0).reverse()) undo();
    busybox?.cleanup();
  });
  return {
    get busybox() {
      busybox ??= createBusyboxDir();
      return busybox;
    },
    sandbox(options) {
      const sandbox = createSandbox(options);
      cleanups.push(() => sandbox.cleanup());
      return sandbox;
    },
    tempDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
    onCleanup(undo) {
      cleanups.push(undo);
    },
  };
}

/**
 * The host code's cache installed and in use on `host` (the sandbox's, through any transport): a
 * write of `product`'s `values` installs it, a read uses it; then it is checked, owned by `uid`.
 */
export async function warmCache(
  sandbox: Sandbox,
  host: HostTarget,
  uid: number,
  product: string,
  values: Record<string, string>,
): Promise<void> {
  await runCommand(host, { command: 'product.set', product, values });
  await runCommand(host, { command: 'product.get', product });
  assertCacheSound(sandbox.stateDir, uid);
}

/** The operation ran exactly once: succeeded with one step, its journal the only one, the hook's `output` once in its log. */
export function assertRanOnce(
  sandbox: Sandbox,
  journal: { id: string; status: string; steps: unknown[] },
  output: string,
): void {
  assert.equal(journal.status, 'succeeded');
  assert.equal(journal.steps.length, 1);
  assert.deepEqual(
    readdirSync(join(sandbox.stateDir, 'operations')).filter((f) => f.endsWith('.json')),
    [`${journal.id}.json`],
  );
  const log = readFileSync(join(sandbox.stateDir, 'logs', `${journal.id}.log`), 'utf8');
  assert.equal(log.split(output).length - 1, 1, 'the hook ran exactly once');
}
