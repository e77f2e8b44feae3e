/**
 * Processes the hosts start per heartbeat: `strace -f -c` attached to every sshd listener while
 * one run goes on, counting the fork-like calls (clone, clone3, fork, vfork: no process on the
 * host side starts threads) and the execve calls of sshd and all it starts. sshd's own share (its
 * per-connection child, privilege separation, the re-exec, the user's shell) is what the `true`
 * floor shows; the difference is the program's. strace slows what it traces, so these runs count
 * and are never timed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { track } from './processes.ts';
import { onPath } from './tools.ts';

export interface ForkCount {
  runner: string;
  hosts: number;
  forksPerHost: number;
  execsPerHost: number;
}

export const STRACE_INSTALL = 'apt-get install -y strace';

/** Whether strace can be used (on PATH). */
export function straceAvailable(): boolean {
  return onPath('strace', process.env['PATH'] ?? '');
}

const FORKS = new Set(['clone', 'clone3', 'fork', 'vfork']);

/** Reads `strace -c`'s table: calls per syscall. */
export function parseStraceSummary(text: string): { forks: number; execs: number } {
  let forks = 0;
  let execs = 0;
  for (const line of text.split('\n')) {
    const cells = line.trim().split(/\s+/);
    const name = cells.at(-1) ?? '';
    // % time, seconds, usecs/call, calls, [errors,] syscall
    const calls = Number(cells[3]);
    if (cells.length < 5 || !Number.isFinite(calls)) continue;
    if (FORKS.has(name)) forks += calls;
    else if (name === 'execve') execs += calls;
  }
  return { forks, execs };
}

function attach(pids: readonly number[], out: string): Promise<ChildProcess> {
  const args = ['-f', '-c', '-e', 'trace=clone,clone3,fork,vfork,execve', '-o', out];
  for (const pid of pids) args.push('-p', String(pid));
  const child = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  return new Promise((resolve, reject) => {
    let said = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`strace did not attach in 15 s: ${said.slice(-500)}`));
    }, 15_000);
    child.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if ((said.match(/attached/g) ?? []).length >= pids.length) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strace exited (${code}) before attaching: ${said.slice(-500)}`));
    });
  });
}

/** Runs `work` with strace on the sshd listeners; the forks and execs it made, per host. */
export async function countForks(
  runner: string,
  hosts: number,
  sshdPids: readonly number[],
  tmp: string,
  work: () => Promise<unknown>,
): Promise<ForkCount> {
  const out = join(tmp, `strace-${runner}.txt`);
  const strace = await attach(sshdPids, out);
  const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
  try {
    await work();
  } finally {
    // SIGINT: strace detaches and writes its table.
    strace.kill('SIGINT');
    await exited;
  }
  const { forks, execs } = parseStraceSummary(readFileSync(out, 'utf8'));
  return { runner, hosts, forksPerHost: forks / hosts, execsPerHost: execs / hosts };
}
