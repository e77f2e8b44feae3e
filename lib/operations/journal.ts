import * as z from 'zod';
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
 * Parses a dumped journal. A journal still `running` whose process is gone was cut short (the
 * runner was killed): it is reported `failed` so that no caller waits for it forever.
 */
export function readJournal(server: string, dump: JournalDump): Journal {
  return abandonedFailed(parseWith(server, journalSchema, dump.text), dump.alive);
}

/**
 * Parses what a heartbeat brings of the last operation: the journal's first line, which ends
 * with the comma before `"steps"`; or, from a host that wrote journals on one line (or sent the
 * file whole), the whole journal. Only the first line is read either way.
 */
export function readJournalHead(server: string, dump: JournalDump): JournalHead {
  const first = dump.text.split('\n', 1)[0] ?? '';
  const text = first.endsWith(',') ? `${first.slice(0, -1)}}` : first;
  return abandonedFailed(parseWith(server, journalHeadSchema, text), dump.alive);
}

function parseWith<T>(server: string, schema: z.ZodType<T>, text: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BootstrapError('INTERNAL', `${server}: unreadable journal`, { server }, { cause: error });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new BootstrapError('INTERNAL', `${server}: malformed journal: ${result.error.message}`, { server });
  }
  return result.data;
}

function abandonedFailed<T extends JournalHead>(journal: T, alive: boolean): T {
  if (journal.status === 'running' && !alive) {
    return {
      ...journal,
      status: 'failed',
      error: {
        code: 'INTERNAL',
        message: `the operation's process (pid ${journal.pid}) ended without finishing its journal`,
        details: { pid: journal.pid, abandoned: true },
      },
    };
  }
  return journal;
}
