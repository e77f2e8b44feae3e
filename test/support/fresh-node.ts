import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';

/**
 * Runs `node ARGS` in `dir` as a Lambda would start a bundle, away from the sources and this
 * process: a region, but no credentials, no ~/.aws (HOME is `dir`) and no instance metadata;
 * `env` adds to that. Gives up after `timeoutMs`.
 */
export function runInFreshNode(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, {
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
}

/** The same, for a child that must exit 0 and answer with JSON on stdout's last line. */
export function runFreshNode<T>(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): T {
  const run = runInFreshNode(dir, args, env, timeoutMs);
  assert.equal(run.status, 0, `${args.join(' ')}: exit ${run.status}\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '') as T;
}
