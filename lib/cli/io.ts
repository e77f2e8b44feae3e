/** Where the CLI writes and what it knows of its terminal; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stderrIsTty: boolean;
  /** Colour in human output only on a terminal (and never under NO_COLOR). */
  stdoutIsTty?: boolean;
}
