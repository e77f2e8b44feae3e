import { spawn } from 'node:child_process';
import { wholeOrNothing } from '../../lib/host/envelope.ts';
import { shq } from '../../lib/host/quote.ts';
import { remoteCommand } from '../../lib/transport/ssh/index.ts';
import type { ExecRequest, ExecResult, Transport } from '../../lib/transport/types.ts';

/**
 * This machine as an SSH host runs it, without sshd: a login shell (dash, `$SHELL` naming it as
 * sshd sets it) given the remote command for `shell` with `-c`, the program arriving on a pipe
 * as the SSH transport sends it (one brace group).
 * Long operations start with `shell` (BOOTSTRAP_SH), as the local transport's do.
 */
export function createPipedTransport(shell: string, env: NodeJS.ProcessEnv = {}): Transport {
  const script = `/bin/cat | /usr/bin/dash -c ${shq(remoteCommand(shell))}`;
  return {
    kind: 'local',
    target: 'localhost',
    exec(request: ExecRequest): Promise<ExecResult> {
      return new Promise((resolve, reject) => {
        const child = spawn('/usr/bin/dash', ['-c', script], {
          cwd: '/',
          env: { ...process.env, ...env, BOOTSTRAP_SH: shell, SHELL: '/usr/bin/dash' },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
        child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
        child.on('error', reject);
        child.on('close', (code) =>
          resolve({
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            exitCode: code ?? 128,
          }),
        );
        child.stdin.on('error', () => {});
        child.stdin.end(wholeOrNothing(request.program));
      });
    },
    async close() {},
  };
}
