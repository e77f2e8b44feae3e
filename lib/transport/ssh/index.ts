/**
 * The SSH transport (SPEC 3.2): runs a program on a host over ssh2, with the host key verified
 * before anything is sent, key authentication only, and one reused connection per host.
 */
import { BootstrapError } from '../../errors.ts';
import { wholeOrNothing } from '../../host/envelope.ts';
import { sessionFrame } from '../../host/host-code.ts';
import { withDeadline } from '../../time/deadline.ts';
import type { ExecRequest, ExecResult, Transport } from '../types.ts';
import { NotSentError } from './connection.ts';
import type { SshEndpoint } from './endpoint.ts';
import { resolveEndpoint } from './endpoint.ts';
import type { SshPoolOptions } from './pool.ts';
import { SshPool } from './pool.ts';
import { NOT_STARTED } from './session.ts';

export type { SshEndpoint } from './endpoint.ts';
export { parseSshAddress, resolveEndpoint } from './endpoint.ts';
export { fingerprintOf, knownHostsName, parseKnownHosts } from './host-keys.ts';
export type { SshPoolOptions, SshPoolStats } from './pool.ts';
export { DEFAULT_CONNECTION_SETTINGS, SshPool } from './pool.ts';

/**
 * What sshd runs for `shell` (`/bin/sh` but in tests): the user's login shell is given this with
 * `-c`, so it must read the same in sh, bash, csh and fish: one line, single-quoted, no `!`. A
 * plain `exec` (no `env` in between, which cost 0.85 ms of host CPU per exec): the program's
 * long-operation runner then starts with `sh` from the host's PATH.
 *
 * The program comes on stdin, and the shell sources it as a file (`. /dev/stdin`) rather than
 * reading its commands from stdin. A shell that reads its commands from a pipe may not read past
 * the one it runs (POSIX), so bash, ksh93, mksh, yash and posh read such a program one byte per
 * read(2): a 17 KB program cost bash 16.0 ms of host CPU that way and 8.9 ms sourced (dash and
 * busybox read blocks either way). A sourced program has read its text before it runs, so no
 * command it starts can take part of it from stdin. Where stdin cannot be opened by name (a
 * socket; `true` and not `:`, whose failed redirection would end the shell), the shell reads it
 * as commands, as before. No `-s`: a host whose /bin/sh is posh refuses it.
 *
 * Where the login shell already is `shell` (sshd sets `$SHELL` to it) and stdin is a pipe the
 * user may open (`-r`: dropbear makes the pipe before it drops to the user, so there it is
 * root's and cannot be reopened by name), the login shell sources the program itself: the
 * `exec` of a second shell cost ~0.5 ms of host CPU per program, the most common case paying
 * for the rarest. The test is `test` with `-a` and `||`, which sh, bash, zsh, csh and fish all
 * read; in csh and fish it is false (their `$SHELL` names them) and they `exec` before they
 * reach the `.`. A `$SHELL` that names another shell than the login shell (set by
 * ~/.ssh/environment where sshd permits it) would take the direct way in csh or fish, which
 * then fail without running anything.
 */
export function remoteCommand(shell: string): string {
  if (!/^\/[\w./+-]+$/.test(shell))
    throw new BootstrapError('INTERNAL', `remoteCommand: not a plain absolute path: ${shell}`);
  const viaShell = `exec ${shell} -c 'if { true </dev/stdin; } 2>/dev/null; then . /dev/stdin; else exec ${shell}; fi'`;
  return `test "$SHELL" = ${shell} -a -p /dev/stdin -a -r /dev/stdin || ${viaShell}; . /dev/stdin`;
}

export const REMOTE_COMMAND = remoteCommand('/bin/sh');

export interface SshTransportOptions extends SshEndpoint, SshPoolOptions {
  /** The host as named in results and errors; `host` by default. */
  target?: string;
  /** A shared connection cache; without one the transport has its own, closed by `close()`. */
  pool?: SshPool;
  /** Per exec when the request names none; no limit by default. */
  commandTimeoutMs?: number;
  /** Overrides REMOTE_COMMAND (tests, hosts without /bin/sh); host sessions are then not used. */
  remoteCommand?: string;
  /** Run a connection's further programs in one host session (session.ts); true by default. */
  hostSessions?: boolean;
}

/** A Transport that runs programs on one host over SSH (`sh` with the program on stdin). */
export function createSshTransport(options: SshTransportOptions): Transport {
  const endpoint = resolveEndpoint(options);
  const target = options.target ?? options.host;
  const ownPool = options.pool === undefined;
  const pool =
    options.pool ??
    new SshPool({
      ...(options.connectTimeoutMs !== undefined && { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.keepaliveIntervalMs !== undefined && { keepaliveIntervalMs: options.keepaliveIntervalMs }),
      ...(options.keepaliveCountMax !== undefined && { keepaliveCountMax: options.keepaliveCountMax }),
      ...(options.connectAttempts !== undefined && { connectAttempts: options.connectAttempts }),
      ...(options.idleTimeoutMs !== undefined && { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.maxSessions !== undefined && { maxSessions: options.maxSessions }),
    });
  const command = options.remoteCommand ?? REMOTE_COMMAND;
  // The session runs /bin/sh as REMOTE_COMMAND does; a host given another command gets exec only.
  const sessions = (options.hostSessions ?? true) && options.remoteCommand === undefined;
  let closed = false;

  const withServer = (error: unknown): unknown => {
    if (error instanceof BootstrapError && error.details['server'] === undefined) {
      return new BootstrapError(
        error.code,
        error.message,
        { server: target, ...error.details },
        { cause: error.cause },
      );
    }
    return error;
  };

  return {
    kind: 'ssh',
    target,
    async exec(request: ExecRequest): Promise<ExecResult> {
      if (closed) throw new BootstrapError('INTERNAL', `ssh transport to ${target} used after close`);
      const timeoutMs = request.timeoutMs ?? options.commandTimeoutMs;
      const frame = sessions ? sessionFrame(request.program) : undefined;
      const where = { server: target, host: endpoint.host, port: endpoint.port, transport: 'ssh' };
      try {
        return await withDeadline(
          {
            ms: timeoutMs,
            signal: request.signal,
            timeoutError: () =>
              new BootstrapError('TRANSPORT_TIMEOUT', `${target}: no answer within ${timeoutMs} ms`, {
                ...where,
                timeoutMs,
              }),
            abortReason: () =>
              new BootstrapError('TRANSPORT_TIMEOUT', `${target}: the caller gave up waiting`, where),
          },
          async (signal) => {
            // A connection found dead before the program was sent is replaced once; after that, never.
            for (let attempt = 1; ; attempt += 1) {
              try {
                const connection = pool.connectionFor(endpoint, command);
                if (frame !== undefined) {
                  // A read runs in the session's own shell; anything that writes, in a subshell.
                  const inShell = request.readsOnly === true && !frame.installs;
                  const framed = await connection.runFramed(frame.text, frame.load, signal, inShell);
                  if (framed !== NOT_STARTED) return framed;
                }
                return await connection.exec(command, wholeOrNothing(request.program), signal);
              } catch (error) {
                if (!(error instanceof NotSentError) || attempt >= 2) throw error;
              }
            }
          },
        );
      } catch (error) {
        throw withServer(error);
      }
    },
    release() {
      pool.closeWhenIdle(endpoint);
    },
    async close() {
      closed = true;
      if (ownPool) await pool.close();
    },
  };
}
