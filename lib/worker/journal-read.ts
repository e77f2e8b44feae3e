/**
 * Reading a journal once more before believing it abandoned. A journal still `running` whose
 * process is gone is reported `failed` (`details.abandoned`) by lib/operations; but a reader that
 * read the journal just before its process wrote the final one and exited sees exactly that
 * too. The final journal is written before the process ends, so a second read tells the two
 * apart: a really abandoned operation stays abandoned.
 */
import { type Journal, runCommand } from '../operations/index.ts';
import type { HostTarget, RunOptions } from '../operations/types.ts';

function abandoned(journal: Journal): boolean {
  return journal.status === 'failed' && journal.error?.details['abandoned'] === true;
}

/** `journal`, or the journal read again when it looks abandoned. */
export async function settledJournal(
  host: HostTarget,
  journal: Journal,
  options: RunOptions = {},
): Promise<Journal> {
  if (!abandoned(journal)) return journal;
  return (await runCommand(host, { command: 'operation.get', operationId: journal.id }, options)) as Journal;
}

/** `operation.get ID`, read twice when the first read looks abandoned. */
export async function getJournal(
  host: HostTarget,
  operationId: string,
  options: RunOptions = {},
): Promise<Journal> {
  const journal = (await runCommand(host, { command: 'operation.get', operationId }, options)) as Journal;
  return settledJournal(host, journal, options);
}
