/**
 * The managed nodes of the loopback SSM (ssm-server.ts) and how a command runs on one, as the
 * agent runs AWS-RunShellScript: the commands written to `_script.sh` in the command's
 * orchestration dir and run by a real `sh` in the node's sandbox (its own HOME and TMPDIR), in a
 * process group of its own, killed at `executionTimeout`; the exit code and signal become the
 * invocation's status and ResponseCode.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceFault } from './ssm-faults.ts';
import { type CommandRecord, type SsmInvocation, setStatus } from './ssm-invocations.ts';

export interface SsmInstanceOptions {
  /** Working directory of every script; the agent's per-command orchestration dir by default. */
  cwd?: string;
  /** Environment over the agent-like base (PATH, HOME, TMPDIR, AWS_SSM_INSTANCE_ID, …). */
  env?: Record<string, string>;
}

export interface SsmInstance {
  readonly id: string;
  /** Everything of this instance lives here; its `tmp` is the scripts' TMPDIR. */
  readonly root: string;
  readonly tmpDir: string;
  options: SsmInstanceOptions;
  fault: InstanceFault | undefined;
}

/** A managed node with a fresh sandbox. */
export function createInstance(id: string, options: SsmInstanceOptions): SsmInstance {
  const root = mkdtempSync(join(tmpdir(), 'ssm-instance-'));
  const tmpDir = join(root, 'tmp');
  mkdirSync(tmpDir);
  return { id, root, tmpDir, options, fault: undefined };
}

/** Runs the command's script on `instance`; the invocation is InProgress until the shell ends. */
export function runScript(
  record: CommandRecord,
  instance: SsmInstance,
  inv: SsmInvocation,
  region: string,
  executionTimeoutAfterMs: number | undefined,
): void {
  const dir = join(instance.root, 'orchestration', record.id, 'awsrunShellScript', '0.awsrunShellScript');
  mkdirSync(dir, { recursive: true });
  const script = join(dir, '_script.sh');
  writeFileSync(script, (record.input.Parameters?.['commands'] ?? []).join('\n'), { mode: 0o700 });
  const env = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: instance.root,
    TMPDIR: instance.tmpDir,
    AWS_SSM_INSTANCE_ID: instance.id,
    AWS_SSM_REGION_NAME: region,
    ...instance.options.env,
  };
  const child = spawn('sh', ['-c', script], { cwd: instance.options.cwd ?? dir, env, detached: true });
  inv.child = child;
  setStatus(inv, 'InProgress', 'InProgress');
  inv.startedAt = new Date();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const seconds = Number(record.input.Parameters?.['executionTimeout']?.[0] ?? 3600);
  const limitMs = Math.min(seconds * 1000, executionTimeoutAfterMs ?? Number.POSITIVE_INFINITY);
  const timer = setTimeout(() => {
    inv.timedOut = true;
    killGroup(child, 'SIGKILL');
  }, limitMs);
  inv.timers.push(timer);
  child.on('close', (code, signal) => {
    clearTimeout(timer);
    inv.child = undefined;
    inv.stdout = Buffer.concat(out).toString('utf8');
    inv.stderr = Buffer.concat(err).toString('utf8');
    inv.responseCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
    inv.endedAt = new Date();
    if (inv.cancelled) setStatus(inv, 'Cancelled', 'Cancelled');
    else if (inv.timedOut) setStatus(inv, 'TimedOut', 'ExecutionTimedOut');
    else if (code === 0) setStatus(inv, 'Success', 'Success');
    else setStatus(inv, 'Failed', 'Failed');
  });
}

/** Signals the script's whole process group (what it started too). */
export function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}
