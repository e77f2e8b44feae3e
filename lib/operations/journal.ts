import * as z from 'zod';
import { OPERATION_ID_PATTERN } from '../config/names.ts';
import { BootstrapError } from '../errors.ts';
import type { JournalDump } from '../host/parse.ts';
import { COMMAND_NAME_PATTERN } from './command-row.ts';

const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
});

const stepSchema = z.object({
  product: z.string(),
  action: z.string(),
  exitCode: z.number(),
  startedAt: z.string(),
  finishedAt: z.string(),
  output: z.string(),
});

/** `operations/<id>.json` as the host writes it (SPEC 2.5). */
export const journalSchema = z.object({
  id: z.string(),
  /** The long command that started it (a row of the command table), as the host recorded it. */
  command: z.string().regex(COMMAND_NAME_PATTERN),
  args: z.record(z.string(), z.string()),
  status: z.enum(['running', 'succeeded', 'failed']),
  pid: z.number(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  error: errorSchema.nullable(),
  steps: z.array(stepSchema),
  staleLockRemoved: z
    .object({
      pid: z.number().nullable(),
      operation: z.string(),
      command: z.string(),
      started_at: z.string(),
      /** The old record as it was (another tool's may hold nothing but a PID). */
      record: z.string().optional(),
    })
    .optional(),
});

export type Journal = z.infer<typeof journalSchema>;

/** A journal's first line as the host writes it (prelude.sh `b_journal_write`): all but the steps. */
const journalHeadSchema = journalSchema.omit({ steps: true, staleLockRemoved: true });

export type JournalHead = z.infer<typeof journalHeadSchema>;

/**
 * A journal record as lib/host/parse.ts gives it (`@journal`, `@lastop`), with what a record may
 * also carry: `id`, the name of the file it was read from (`@lastop ID …`), and `unreadable`, when
 * the host could not read the file at all (`… b64 !`, prelude.sh `b_flush`).
 */
export type JournalRecord = JournalDump & { id?: string; unreadable?: boolean };

/** Why a journal's text is no journal: a short reason, one line (never a dump of the schema's issues). */
export interface JournalProblem {
  /** `unreadable`: the host could not read it, or it is not JSON; `malformed`: JSON, but not a journal. */
  kind: 'unreadable' | 'malformed';
  reason: string;
  cause?: unknown;
}

/**
 * Parses a dumped journal. A journal still `running` whose process is gone was cut short (the
 * runner was killed): it is reported `failed` so that no caller waits for it forever.
 *
 * With `file` (the host file it was read from), a journal that is no journal is that file's fault,
 * not the tool's: `CONFIG_ERROR` naming the file. Without, it is `INTERNAL`.
 */
export function readJournal(server: string, dump: JournalRecord, file?: string): Journal {
  const parsed = parseWith(journalSchema, dump);
  if ('problem' in parsed) throw journalError(server, parsed.problem, file);
  return abandonedFailed(parsed.value, dump.alive);
}

/**
 * Parses what a heartbeat brings of the last operation: the journal's first line, which ends
 * with the comma before `"steps"`; or, from a host that wrote journals on one line (or sent the
 * file whole), the whole journal. Only the first line is read either way (a CR before its end,
 * from a journal whose line ends were made CRLF, is JSON's whitespace and read past). What is
 * wrong with a journal that is none is returned, not thrown: a heartbeat reports it.
 */
export function parseJournalHead(dump: JournalRecord): { value: JournalHead } | { problem: JournalProblem } {
  const first = (dump.text.split('\n', 1)[0] ?? '').replace(/\r$/, '');
  const text = first.endsWith(',') ? `${first.slice(0, -1)}}` : first;
  const parsed = parseWith(journalHeadSchema, { ...dump, text });
  return 'problem' in parsed ? parsed : { value: abandonedFailed(parsed.value, dump.alive) };
}

/**
 * What the start of a journal's text still says of it when the rest cannot be read (a truncated
 * file): the `id` and `command` it opens with, each only when it is one (journals begin with them).
 */
export function journalLeftovers(text: string): { id: string | null; command: string | null } {
  const id = /^\s*\{\s*"id"\s*:\s*"([^"\\]*)"/.exec(text)?.[1];
  const command = /^\s*\{\s*"id"\s*:\s*"[^"\\]*"\s*,\s*"command"\s*:\s*"([^"\\]*)"/.exec(text)?.[1];
  return {
    id: id !== undefined && OPERATION_ID_PATTERN.test(id) ? id : null,
    command: command !== undefined && COMMAND_NAME_PATTERN.test(command) ? command : null,
  };
}

/** The message and error for a journal that is no journal (see `readJournal`). */
export function journalError(server: string, problem: JournalProblem, file?: string): BootstrapError {
  const what = `${problem.kind} journal (${problem.reason})`;
  const options = problem.cause === undefined ? undefined : { cause: problem.cause };
  if (file === undefined) {
    return new BootstrapError('INTERNAL', `${server}: ${what}`, { server }, options);
  }
  return new BootstrapError(
    'CONFIG_ERROR',
    `${server}: ${file}: ${what}`,
    { server, file, section: null, key: null, problem: problem.kind },
    options,
  );
}

function parseWith<T>(schema: z.ZodType<T>, dump: JournalRecord): { value: T } | { problem: JournalProblem } {
  if (dump.unreadable) {
    return { problem: { kind: 'unreadable', reason: 'the file could not be read on the host' } };
  }
  if (dump.text.trim() === '') return { problem: { kind: 'unreadable', reason: 'the file is empty' } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(dump.text);
  } catch (error) {
    return { problem: { kind: 'unreadable', reason: 'not JSON', cause: error } };
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues;
    const said = issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || 'the journal'}: ${issue.message}`)
      .join('; ');
    const more = issues.length > 3 ? `; and ${issues.length - 3} more` : '';
    return { problem: { kind: 'malformed', reason: `${said}${more}`.replace(/[\r\n]+/g, ' ') } };
  }
  return { value: result.data };
}

/**
 * A runner killed (-9) is no bug of this tool's, so not `INTERNAL` (SPEC 2.6): it failed as a hook
 * that did not finish fails, `HOOK_FAILED`, finished when it was found dead (the journal knows no
 * later time). The host writes the same outcome into the journal when the next mutating operation
 * takes over the runner's stale lock (prelude.sh `b_finish_abandoned`), with the step that was
 * running; until then each read finds it dead anew.
 */
function abandonedFailed<T extends JournalHead>(journal: T, alive: boolean): T {
  if (journal.status === 'running' && !alive) {
    return {
      ...journal,
      status: 'failed',
      finishedAt: journal.finishedAt ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      error: {
        code: 'HOOK_FAILED',
        message: `the operation's process (pid ${journal.pid}) was killed: it ended without finishing its journal`,
        details: { pid: journal.pid, abandoned: true },
      },
    };
  }
  return journal;
}
