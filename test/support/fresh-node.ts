import { type SpawnSyncReturns, spawnSync } from 'node:child_process';

/**
 * Runs `node ARGS` in `dir` as a Lambda would start a bundle, away from the sources and this
 * process: a region, but no credentials, no ~/.aws (HOME is `dir`) and no instance metadata;
 * `env` adds to that. Gives up after 60 s.
 */
export function runInFreshNode(
  dir: string,
  args: string[],
  env: Record<string, string> = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: dir,
      AWS_REGION: 'eu-west-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    },
  });
}
