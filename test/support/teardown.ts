/**
 * What a suite starts and must undo after its tests (servers, sandboxes, environment variables,
 * temporary folders), undone in one `after`, the last started first, each step once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSandbox, type Sandbox, type SandboxOptions } from './sandbox.ts';

export class Teardown {
  private readonly steps: Array<() => unknown> = [];

  /** Undoes `step` after the suite; returns it. */
  add<T extends () => unknown>(step: T): T {
    this.steps.push(step);
    return step;
  }

  /** A fresh temporary folder, removed with all it holds after the suite. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.add(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A sandbox host (sandbox.ts), cleaned up after the suite. */
  sandbox(options: SandboxOptions = {}): Sandbox {
    const sandbox = createSandbox(options);
    this.add(() => sandbox.cleanup());
    return sandbox;
  }

  /** Runs every step, the last added first. */
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step();
  }
}
