import type { BootstrapConfig } from '../config/bootstrap-config.ts';
import type { Transport } from '../transport/types.ts';

/** Where one host keeps its files, and how to reach it. */
export interface HostTarget {
  /** The host's name in results (inventory name, address, instance id). */
  name: string;
  transport: Transport;
  /** `bootstrap.ini` on the host; `/etc/cloudiq/bootstrap.ini` by default. */
  configPath: string;
  /** The state directory on the host; `/var/bootstrap` by default. */
  stateDir: string;
}

export interface RunOptions {
  /** Wait this long for a held lock before `LOCKED` (SPEC 2.3 `--wait-lock`). */
  waitLockSeconds?: number;
  /**
   * For `server.provision` and `product.upgrade`: return the journal as soon as the operation is
   * running on the host instead of following it to its end.
   */
  detach?: boolean;
  /** Render the program a mutating command would run and return it, changing nothing. */
  dryRun?: boolean;
  /** Per exec: how long a transport may take for one program. */
  timeoutMs?: number;
  /** Stop following a long operation (it goes on on the host). */
  signal?: AbortSignal;
  /**
   * The operation's id for a quick change (`product.set`, `server.mode MODE`): a fleet run's, so
   * that the host's `last_operation` is the id its callback carries; a new one when absent. Long
   * operations take theirs in the request (`operationId`).
   */
  operationId?: string;
  /** Told the host's parsed bootstrap.ini whenever it is read (e.g. for `callback_url`). */
  onConfig?: (config: BootstrapConfig) => void;
}
