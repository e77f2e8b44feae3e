import { spawn } from 'node:child_process';
import { BootstrapError } from '../errors.ts';
import type { ExecRequest, ExecResult, Transport } from './types.ts';

export interface LocalTransportOptions {
  /** The shell that runs programs: `/bin/sh` unless a test wants dash, bash or busybox. */
  shell?: string;
  /** Extra environment for the program (merged over this process's). */
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
      return runLocal(shell, { ...process.env, ...options.env, BOOTSTRAP_SH: shell }, target, request);
    },
    async close() {
      closed = true;
    },
  };
}

function runLocal(
  shell: string,
  env: NodeJS.ProcessEnv,
  target: string,
  request: ExecRequest,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(shell, [], { cwd: '/', env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const giveUp = (why: string) =>
      finish(() => {
        // The program's own detached work (long operations) is in another session and lives on.
        child.kill('SIGTERM');
        reject(
          new BootstrapError('TRANSPORT_TIMEOUT', `${target}: ${why}`, {
            server: target,
            transport: 'local',
          }),
        );
      });
    const onAbort = () => giveUp('the caller gave up waiting');
    const timer =
      request.timeoutMs === undefined
        ? undefined
        : setTimeout(() => giveUp(`no answer within ${request.timeoutMs} ms`), request.timeoutMs);
    if (request.signal?.aborted) return onAbort();
    request.signal?.addEventListener('abort', onAbort, { once: true });

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
    child.on('close', (code, signal) =>
      finish(() =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          exitCode: code ?? 128 + signalNumber(signal),
        }),
      ),
    );
    // A shell that exits early (syntax error) closes stdin: that is reported by 'close', not here.
    child.stdin.on('error', () => {});
    child.stdin.end(request.program);
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 0;
}
