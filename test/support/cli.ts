import { main } from '../../lib/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command line in this process, capturing what it prints (stderr is not a terminal). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: { ...process.env, ...env },
    stderrIsTty: false,
  });
  return { code, stdout, stderr };
}

/** `--inventory FILE --select SELECTOR COMMAND… --json`: a fleet command line over an inventory. */
export function fleetArgv(inventory: string, select: string, ...command: string[]): string[] {
  return ['--inventory', inventory, '--select', select, ...command, '--json'];
}
