/**
 * A bundle's own process, as Lambda starts one: a fresh Node.js in `dir` with a region but no
 * credentials, no ~/.aws and no instance metadata, whose answer is the JSON on stdout's last line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export function runFreshNode<T>(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): T {
  const run = spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dir,
      AWS_REGION: 'eu-west-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
  assert.equal(run.status, 0, `${args.join(' ')}: exit ${run.status}\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as T;
}
