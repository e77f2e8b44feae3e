import { DEFAULT_CONFIG_PATH } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import type { HostTarget } from '../operations/types.ts';
import { createLocalTransport } from '../transport/local.ts';
import type { CliOptions } from './args.ts';

export const DEFAULT_STATE_DIR = '/var/bootstrap';

/** bootstrap.ini and the state dir: the flag, else the environment, else SPEC's defaults. */
export function hostPaths(
  options: CliOptions,
  env: NodeJS.ProcessEnv,
): { configPath: string; stateDir: string } {
  return {
    configPath: options.config ?? env['BOOTSTRAP_CONFIG'] ?? DEFAULT_CONFIG_PATH,
    stateDir: options.stateDir ?? env['BOOTSTRAP_STATE_DIR'] ?? DEFAULT_STATE_DIR,
  };
}

/** The one host a non-fleet command line names: this machine unless --host or --ssm says otherwise. */
export async function resolveSingleTarget(options: CliOptions, env: NodeJS.ProcessEnv): Promise<HostTarget> {
  const paths = hostPaths(options, env);
  if (options.host !== undefined || options.ssm !== undefined) {
    throw new BootstrapError(
      'INTERNAL',
      `${options.host !== undefined ? '--host' : '--ssm'}: not implemented yet`,
    );
  }
  const shell = env['BOOTSTRAP_LOCAL_SHELL'];
  return { name: 'localhost', transport: createLocalTransport(shell ? { shell } : {}), ...paths };
}
