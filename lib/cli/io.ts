/** Where the CLI writes and what it knows of its terminal; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stderrIsTty: boolean;
  /** Colour in human output only on a terminal (and never under NO_COLOR). */
  stdoutIsTty?: boolean;
  /**
   * The raw bytes of `argv`, one buffer per argument, or null when they cannot be known (then
   * node's lossy UTF-8 decoding of them stands). The process's own: from /proc/self/cmdline.
   */
  rawArguments?: (argv: readonly string[]) => readonly Buffer[] | null;
  /**
   * Calls `onStop` at the first SIGINT or SIGTERM, then ends the process (exit 130 or 143); returns
   * what removes it. The process's own; absent (tests in-process), signals keep their defaults.
   */
  onInterrupt?: (onStop: (signal: 'SIGINT' | 'SIGTERM') => void) => () => void;
}
