import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { parseCli } from '../../lib/cli/args.ts';
import { type ServeHandle, startServe } from '../../lib/cli/serve.ts';

export interface DemoServe {
  /** The running `serve` (after `before`). */
  readonly server: ServeHandle;
  /** Its demo fleet's folder (CLOUDIQ_DEMO_DIR): the hosts' config and state. */
  readonly dir: string;
}

/**
 * `serve --port 0`, quiet, over the demo fleet in a new folder named from `prefix`: started in a
 * `before` and closed, its folder removed, in an `after` of the calling `describe`.
 */
export function useDemoServe(prefix: string): DemoServe {
  let dir = '';
  let server: ServeHandle | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    const quiet = () => {};
    server = await startServe(parseCli(['serve', '--port', '0']).options, {
      stdout: quiet,
      stderr: quiet,
      env: { ...process.env, CLOUDIQ_DEMO_DIR: dir },
      stderrIsTty: false,
    });
  });
  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get server() {
      if (!server) throw new Error('serve is started in `before`');
      return server;
    },
    get dir() {
      return dir;
    },
  };
}
