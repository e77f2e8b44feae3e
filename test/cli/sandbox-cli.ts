/**
 * What the CLI tests over sandbox hosts share: a command line for one sandbox host, an inventory of
 * local hosts over sandboxes, and sandboxes made on demand and cleaned up together.
 */
import { writeFileSync } from 'node:fs';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** `--config` and `--state-dir` of the sandbox's host, then `argv`: a command line for that host. */
export function sandboxArgv(sb: Sandbox, ...argv: string[]): string[] {
  return ['--config', sb.configPath, '--state-dir', sb.stateDir, ...argv];
}

/** Writes `file`, an inventory of local hosts (`name` → its sandbox), and returns it. */
export function writeLocalInventory(file: string, hosts: Record<string, Sandbox>): string {
  writeFileSync(
    file,
    Object.entries(hosts)
      .map(
        ([name, sb]) =>
          `[host:${name}]\ntransport = local\nconfig_path = ${sb.configPath}\nstate_dir = ${sb.stateDir}\n`,
      )
      .join('\n'),
  );
  return file;
}

/** Sandboxes made on demand (`sandbox()`), every one of them cleaned up by `cleanup()`. */
export function sandboxPool() {
  const made: Sandbox[] = [];
  return {
    sandbox(options?: Parameters<typeof createSandbox>[0]): Sandbox {
      const sb = createSandbox(options);
      made.push(sb);
      return sb;
    },
    cleanup(): void {
      for (const sb of made.splice(0)) sb.cleanup();
    },
  };
}
