/**
 * One interface for every way of reaching a host. A transport runs one POSIX sh program on the
 * host and hands back what it printed; it knows nothing of bootstrap operations. The program is
 * self-contained (lib/host renders it), so the same text works over any transport.
 */

import type { ProgramOutput } from '../host/parse.ts';

export type TransportKind = 'local' | 'ssh' | 'ssm';

export interface ExecRequest {
  /** The whole sh program. ssh and local feed it to `sh` on stdin; ssm sends it as AWS-RunShellScript's commands. */
  program: string;
  /** Give up after this long with `TRANSPORT_TIMEOUT`. The program on the host may still be running. */
  timeoutMs?: number;
  /** Abort the wait (the caller gave up). Rejects with `TRANSPORT_TIMEOUT`. */
  signal?: AbortSignal;
  /**
   * The program only reads (lib/host/programs.ts `renderRead` without checks): it starts no
   * process that outlives it, takes no lock and changes no state of the shell's but its own
   * variables. An SSH host session runs such a program in its own shell, without a subshell.
   */
  readsOnly?: boolean;
}

/** What a program printed; defined beside the parser that reads it (lib/host), which knows no transport. */
export type ExecResult = ProgramOutput;

export interface Transport {
  readonly kind: TransportKind;
  /** The host as named in results and errors (inventory name, address or instance id). */
  readonly target: string;
  /**
   * Runs one program. Rejects with a BootstrapError coded `UNREACHABLE`, `AUTH_FAILED`,
   * `HOST_KEY_MISMATCH` or `TRANSPORT_TIMEOUT` when the program could not be run or followed
   * to its end; never resolves with a partial stdout.
   */
  exec(request: ExecRequest): Promise<ExecResult>;
  /**
   * The caller has nothing more to run on this host for now: a connection kept only for reuse
   * closes as soon as nothing runs on it. The transport stays usable (the next exec connects
   * again). Transports that hold nothing per host have none.
   */
  release?(): void;
  /** Releases what the transport holds (connections); exec after close is an error. */
  close(): Promise<void>;
}
