import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import type { HostTarget } from '../operations/types.ts';
import { present } from '../optional.ts';
import { ssmClientConfig } from '../transport/aws-http.ts';
import { createLocalTransport } from '../transport/local.ts';
import type { SshEndpoint } from '../transport/ssh/index.ts';
import { parseSshAddress } from '../transport/ssh/ssh-address.ts';
import type { CliOptions } from './args.ts';

/**
 * bootstrap.ini and the state dir: the flag, else the environment (empty means unset), else
 * SPEC's defaults. On this machine a relative path is the caller's, resolved against the working
 * directory (the host program runs from `/`); for a remote host no one could say what it is
 * relative to, so it is refused, as an empty flag is everywhere.
 */
export function hostPaths(
  options: CliOptions,
  env: NodeJS.ProcessEnv,
  remote: boolean,
): { configPath: string; stateDir: string } {
  const path = (flag: string, value: string | undefined, variable: string, fallback: string): string => {
    if (value === '') throw new BootstrapError('INVALID_REQUEST', `${flag} needs a path`, { option: flag });
    const chosen = value ?? (env[variable] || undefined);
    const from = value === undefined ? variable : flag;
    if (chosen === undefined) return fallback;
    if (isAbsolute(chosen)) return chosen;
    if (!remote) return resolve(chosen);
    throw new BootstrapError(
      'INVALID_REQUEST',
      `${from} ${JSON.stringify(chosen)}: a remote host needs an absolute path`,
      { option: from, path: chosen },
    );
  };
  return {
    configPath: path('--config', options.config, 'BOOTSTRAP_CONFIG', DEFAULT_CONFIG_PATH),
    stateDir: path('--state-dir', options.stateDir, 'BOOTSTRAP_STATE_DIR', DEFAULT_STATE_DIR),
  };
}

/**
 * `--host` with its key and trust flags, as an SSH endpoint; the ssh config (`--ssh-config`, else
 * ~/.ssh/config) completes what the flags leave out. The jump host shares the target's key and
 * known_hosts where the ssh config names none of its own.
 */
export function sshEndpointFromFlags(options: CliOptions): SshEndpoint {
  const trust = {
    ...present({ identity: options.identity }),
    ...present({ knownHosts: options.knownHosts }),
  };
  const common = {
    ...(options.acceptNewHostKey ? { acceptNewHostKey: true } : {}),
    ...present({ sshConfig: options.sshConfig }),
  };
  // The ssh config's ProxyJump hops share the flags' key and trust, as a `--jump` hop does.
  const hops = { ...trust, ...(options.acceptNewHostKey ? { acceptNewHostKey: true } : {}) };
  const endpoint: SshEndpoint = { ...parseSshAddress(options.host ?? ''), ...trust, ...common, hops };
  if (options.port !== undefined) {
    // `-p PORT`, as ssh takes it; once only, not also as `HOST:PORT`.
    const port = /^[0-9]{1,5}$/.test(options.port) ? Number(options.port) : 0;
    if (port < 1 || port > 65535)
      throw new BootstrapError(
        'INVALID_REQUEST',
        `--port takes a port number, not ${JSON.stringify(options.port)}`,
      );
    if (endpoint.port !== undefined && endpoint.port !== port)
      throw new BootstrapError('INVALID_REQUEST', `two ports for --host: :${endpoint.port} and -p ${port}`);
    endpoint.port = port;
  }
  if (options.hostKey !== undefined) endpoint.hostKey = options.hostKey;
  if (options.jump !== undefined)
    endpoint.jump = { ...parseSshAddress(options.jump), inherit: trust, ...common, hops };
  return endpoint;
}

/**
 * The one host a non-fleet command line names: this machine, `--host` over SSH, or `--ssm` over
 * Systems Manager. The CLI is a composition root: it builds the SSM client here, from the SDK's
 * standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SSM, …).
 */
export async function resolveSingleTarget(options: CliOptions, env: NodeJS.ProcessEnv): Promise<HostTarget> {
  const paths = hostPaths(options, env, options.host !== undefined || options.ssm !== undefined);
  if (options.host !== undefined) {
    const endpoint = sshEndpointFromFlags(options);
    // ssh2 and the SSH transport load only for `--host`: a command on this machine never pays for them.
    const { createSshTransport } = await import('../transport/ssh/index.ts');
    return { name: endpoint.host, transport: createSshTransport(endpoint), ...paths };
  }
  if (options.ssm !== undefined) {
    const { SSMClient } = await import('../transport/ssm/sdk-commands.ts');
    const { createSsmTransport } = await import('../transport/ssm/index.ts');
    const client = new SSMClient(ssmClientConfig(options.region, options.profile));
    const transport = createSsmTransport({
      client,
      instanceId: options.ssm,
      ...present({ region: options.region }),
    });
    // The client is this command's own: closing the target destroys it too.
    return {
      name: options.ssm,
      transport: {
        kind: 'ssm',
        target: transport.target,
        exec: (request) => transport.exec(request),
        close: async () => {
          await transport.close();
          client.destroy();
        },
      },
      ...paths,
    };
  }
  const shell = env['BOOTSTRAP_LOCAL_SHELL'];
  return { name: 'localhost', transport: createLocalTransport(shell ? { shell } : {}), ...paths };
}
