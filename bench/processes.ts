/**
 * Child processes of the benchmark: each in its own process group, remembered until it exits, so
 * that an interrupted run ends exactly the processes it started (and theirs), by id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { present } from '../lib/optional.ts';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit, as seen by this process. */
  wallMs: number;
}

const live = new Set<ChildProcess>();

/** Remembers a child started elsewhere, so that an interrupted run ends it too. */
export function track(child: ChildProcess): void {
  live.add(child);
  child.once('close', () => live.delete(child));
}

/** Runs a command to its end and collects its output; never rejects for a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      ...present({ cwd: options.cwd }),
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.once('error', (error) => {
      live.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs: performance.now() - started,
      });
    });
  });
}

/** Kills the process group of every child still running (SIGKILL: we are being interrupted). */
export function killChildren(): void {
  for (const child of live) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }
  live.clear();
}

/** The last line of a child's stdout as JSON, or an error carrying what it printed. */
export function jsonResult<T>(finished: Finished, what: string): T {
  const line = finished.stdout.trim().split('\n').at(-1) ?? '';
  try {
    if (finished.code !== 0) throw new Error(`exit ${finished.code ?? finished.signal}`);
    return JSON.parse(line) as T;
  } catch (error) {
    throw new Error(
      `${what} failed (${(error as Error).message}): ${finished.stderr.slice(-2000)}${line.slice(0, 500)}`,
    );
  }
}
