/**
 * What the CLI tells an operator when it leaves an operation running on its host without
 * following it to the end (an interrupt, `--detach`): the command that follows it, with the same
 * target flags as the command line that started it.
 */
import type { CliOptions } from './args.ts';
import { shellLine } from './shell-word.ts';

/** The target flags of a command line (`--host` and its SSH flags, `--ssm`, `--inventory`, paths), in order. */
export function targetArgv(options: CliOptions): string[] {
  const valued: Array<[string, string | undefined]> = [
    ['--host', options.host],
    ['--identity', options.identity],
    ['--known-hosts', options.knownHosts],
    ['--host-key', options.hostKey],
    ['--jump', options.jump],
    ['--port', options.port],
    ['--ssh-config', options.sshConfig],
    ['--ssm', options.ssm],
    ['--region', options.region],
    ['--profile', options.profile],
    ['--inventory', options.inventory],
    ['--select', options.select],
    ['--config', options.config],
    ['--state-dir', options.stateDir],
  ];
  return [
    ...valued.flatMap(([flag, value]) => (value === undefined ? [] : [flag, value])),
    ...(options.acceptNewHostKey ? ['--accept-new-host-key'] : []),
  ];
}

/** `cloudiq-bootstrap … operation.get ID`: follows operation `id` where `options` started it. */
export function followCommand(options: CliOptions, id: string): string {
  return `cloudiq-bootstrap ${shellLine([...targetArgv(options), 'operation.get', id])}`;
}
