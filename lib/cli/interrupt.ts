/**
 * Ctrl-C (SIGINT) or SIGTERM while the CLI follows a long operation. The operation runs on its
 * host in a runner of its own, under the lock, whatever becomes of the CLI (SPEC 2.5), so the CLI
 * does what `serve` does when it stops: it says that the operation goes on, with its id and the
 * command that follows it, and ends (130 after SIGINT, 143 after SIGTERM, as a shell reports a
 * process those signals end). stdout gets nothing: with `--json` it stays empty, never half a
 * document, and a script tells the interrupt by the exit status.
 */
import type { CliOptions } from './args.ts';
import { followCommand } from './follow-hint.ts';
import type { CliIo } from './io.ts';

/** What is being followed: the command, its operation id, and where (a host's name, or a fleet's selection). */
export interface Followed {
  command: string;
  operationId: string;
  where: string;
}

/**
 * Until the returned function is called, the first SIGINT or SIGTERM prints where `followed` goes
 * on and how to follow it, aborts `stop` (the transports end their own programs: a follow poll,
 * a connection), and the process ends. Without `io.onInterrupt` (tests in-process) nothing is set.
 */
export function onInterrupt(
  io: CliIo,
  options: CliOptions,
  followed: Followed,
  stop: AbortController,
): () => void {
  if (!io.onInterrupt) return () => {};
  return io.onInterrupt((signal) => {
    const { command, operationId, where } = followed;
    io.stderr(
      `${signal}: the CLI stops following; ${command} ${operationId} goes on under its lock on ${where} ` +
        `(had it not started yet, operation.get answers that there is no such operation). Follow it with:\n` +
        `  ${followCommand(options, operationId)}\n`,
    );
    stop.abort(new Error(`interrupted by ${signal}`));
  });
}
