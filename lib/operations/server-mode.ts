import { BootstrapError } from '../errors.ts';
import { NOW_MARKER } from '../host/programs.ts';
import { quickOperationId } from './ids.ts';
import { type DryRun, runQuickWrite } from './quick-write.ts';
import { expect, type Snapshot, serverPath } from './snapshot.ts';
import { renderServerIni, type ServerState } from './state.ts';
import type { HostTarget, RunOptions } from './target.ts';

/** The mode now: as recorded, else the config's initial mode (a never-provisioned server). */
export function currentMode(snapshot: Snapshot): string {
  return snapshot.server.mode ?? snapshot.config.server.initialMode;
}

export function serverModeGet(snapshot: Snapshot): { mode: string } {
  return { mode: currentMode(snapshot) };
}

/** `server.mode MODE`: under the lock, sets it. */
export function serverModeSet(
  host: HostTarget,
  mode: string,
  options: RunOptions,
): Promise<{ mode: string } | DryRun> {
  const operationId = quickOperationId(options);
  // bootstrap.ini and server.ini: no product's file.
  return runQuickWrite(host, options, { products: [] }, (snapshot) => {
    const { modes } = snapshot.config.server;
    if (!modes.includes(mode)) {
      throw new BootstrapError(
        'INVALID_MODE',
        `${host.name}: mode ${JSON.stringify(mode)} is not one of ${modes.join(', ')}`,
        {
          server: host.name,
          mode,
          allowed: modes,
        },
      );
    }
    const next: ServerState = {
      ...snapshot.server,
      mode,
      updated_at: NOW_MARKER,
      last_operation: operationId,
    };
    return {
      write: {
        operationId,
        command: 'server.mode',
        waitLockSeconds: options.waitLockSeconds ?? 0,
        expect: expect(snapshot, 'config', 'server'),
        writes: [{ path: serverPath(host), content: renderServerIni(next) }],
      },
      answer: () => ({ mode }),
    };
  });
}
