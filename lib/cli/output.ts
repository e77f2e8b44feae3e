import type { ErrorBody } from '../errors.ts';
import { type CommandTable, findRow } from '../operations/command-row.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';

/** The human-readable rendering of a command's answer (its row's `text`; a dry run's program). */
export function formatHuman(command: string, answer: unknown, table: CommandTable = COMMAND_TABLE): string {
  const a = answer as Record<string, unknown>;
  if (a['dryRun'] === true) return String(a['program']);
  const row = findRow(table, command);
  return row ? row.text(answer) : JSON.stringify(answer, null, 2);
}

export function formatError(error: ErrorBody): string {
  return `error: ${error.code}: ${error.message}`;
}
