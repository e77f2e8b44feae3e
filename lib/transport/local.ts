import { spawn } from 'node:child_process';
import { BootstrapError } from '../errors.ts';
import { wholeOrNothing } from '../host/envelope.ts';
import { withDeadline } from '../time/deadline.ts';
import type { ExecRequest, ExecResult, Transport } from './types.ts';

export interface LocalTransportOptions {
  /** The shell that runs programs: `/bin/sh` unless a test wants dash, bash or busybox. */
  shell?: string;
  /** Extra environment for the program (merged over what {@link hostEnvironment} lets through). */
  env?: NodeJS.ProcessEnv;
  /** Name in results; `localhost` by default. */
  target?: string;
}

/**
 * This machine, through `sh` with the program on stdin: what the CLI uses when no target is named.
 * No `-s`: a shell given no operand reads stdin anyway (POSIX), and posh refuses `-s`.
 */
export function createLocalTransport(options: LocalTransportOptions = {}): Transport {
  const shell = options.shell ?? '/bin/sh';
  const target = options.target ?? 'localhost';
  let closed = false;
  return {
    kind: 'local',
    target,
    exec(request: ExecRequest): Promise<ExecResult> {
      if (closed) return Promise.reject(new BootstrapError('INTERNAL', 'local transport used after close'));
      return runLocal(
        shell,
        { ...hostEnvironment(process.env), ...options.env, BOOTSTRAP_SH: shell },
        target,
        request,
      );
    },
    async close() {
      closed = true;
    },
  };
}

/** The login variables a program (and the hooks it runs) expects of a session on this machine. */
const LOGIN_VARIABLES = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'TZ', 'TMPDIR', 'TERM']);

/**
 * What of this process's environment reaches the host program, and through it every hook (SPEC
 * 2.4) and its log: the login variables, the locale (`LC_*`) and the tool's own host-side
 * `BOOTSTRAP_*` settings (`BOOTSTRAP_NO_FLOCK`, `BOOTSTRAP_FAULT_AT`, …; a hook's own `BOOTSTRAP_*`
 * are set afresh by the runner). Nothing else: an SSH host's sshd starts a clean session too, and
 * whatever else the tool was given (`CLOUDIQ_SSH_PASSPHRASE`, `AWS_SECRET_ACCESS_KEY`, a callback's
 * secret) is the tool's, never a hook's to print.
 */
function hostEnvironment(from: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(from)) {
    if (value === undefined) continue;
    if (LOGIN_VARIABLES.has(name) || name.startsWith('LC_') || name.startsWith('BOOTSTRAP_'))
      env[name] = value;
  }
  return env;
}

function runLocal(
  shell: string,
  env: NodeJS.ProcessEnv,
  target: string,
  request: ExecRequest,
): Promise<ExecResult> {
  const timeout = (why: string) =>
    new BootstrapError('TRANSPORT_TIMEOUT', `${target}: ${why}`, { server: target, transport: 'local' });
  return withDeadline(
    {
      ms: request.timeoutMs,
      signal: request.signal,
      timeoutError: () => timeout(`no answer within ${request.timeoutMs} ms`),
      abortReason: () => timeout('the caller gave up waiting'),
    },
    (signal) => spawnShell(shell, env, target, request.program, signal),
  );
}

/** The shell's run; an abort kills it and rejects with the signal's reason. */
function spawnShell(
  shell: string,
  env: NodeJS.ProcessEnv,
  target: string,
  program: string,
  signal: AbortSignal,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell, [], { cwd: '/', env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () =>
      finish(() => {
        // The program's own detached work (long operations) is in another session and lives on.
        child.kill('SIGTERM');
        reject(signal.reason);
      });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) =>
      finish(() =>
        reject(
          new BootstrapError(
            'UNREACHABLE',
            `${target}: cannot start ${shell}: ${error.message}`,
            { server: target, transport: 'local' },
            { cause: error },
          ),
        ),
      ),
    );
    child.on('close', (code, killedBy) =>
      finish(() =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          exitCode: code ?? 128 + signalNumber(killedBy),
        }),
      ),
    );
    // A shell that exits early (syntax error) closes stdin: that is reported by 'close', not here.
    child.stdin.on('error', () => {});
    child.stdin.end(wholeOrNothing(program));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 0;
}
