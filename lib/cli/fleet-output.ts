/**
 * A fleet run for people (SPEC 6): one line per host with what the command answered there,
 * grouped by outcome (failed, unreachable, skipped, then succeeded), then a summary line; colour
 * only on a terminal and never under `NO_COLOR` (https://no-color.org).
 */
import type { FleetResult, TargetReport } from '../fleet/index.ts';
import { findRow } from '../operations/command-row.ts';
import { clean } from '../operations/human.ts';
import type { AppstackAnswer } from '../operations/index.ts';
import { COMMAND_TABLE } from '../operations/registry.ts';

type Paint = (text: string) => string;

export interface Palette {
  red: Paint;
  yellow: Paint;
  green: Paint;
  dim: Paint;
  bold: Paint;
}

const sgr =
  (code: string): Paint =>
  (text) =>
    `\u001b[${code}m${text}\u001b[0m`;
const plain: Paint = (text) => text;

/** Colours when `tty` and `NO_COLOR` is unset or empty, else identity functions. */
export function paletteFor(tty: boolean, env: NodeJS.ProcessEnv): Palette {
  const on = tty && !env['NO_COLOR'];
  return on
    ? { red: sgr('31'), yellow: sgr('33'), green: sgr('32'), dim: sgr('2'), bold: sgr('1') }
    : { red: plain, yellow: plain, green: plain, dim: plain, bold: plain };
}

/** What one host answered, in a line: its command's row's `line` (the value, the mode, the appstack status, the journal's end). */
export function answerLine(command: string, answer: unknown): string {
  const row = findRow(COMMAND_TABLE, command);
  return row ? row.line(answer) : JSON.stringify(answer);
}

function targetLine(command: string, t: TargetReport): string {
  switch (t.status) {
    case 'succeeded':
      return answerLine(command, t.result);
    case 'skipped':
      return 'not started (the run stopped)';
    default: {
      const appstack = (t.error.details as { appstack?: AppstackAnswer }).appstack;
      if (t.error.code === 'UNHEALTHY' && appstack) return `UNHEALTHY: ${answerLine(command, appstack)}`;
      return `${t.error.code}: ${clean(t.error.message)}`;
    }
  }
}

const GROUPS = ['failed', 'unreachable', 'skipped', 'succeeded'] as const;

/** The whole fleet result as text: grouped host lines, the summary line, the callback's fate. */
export function formatFleet(result: FleetResult, paint: Palette): string {
  const width = Math.max(...result.targets.map((t) => clean(t.server).length), 4);
  const colour: Record<(typeof GROUPS)[number], Paint> = {
    failed: paint.red,
    unreachable: paint.red,
    skipped: paint.yellow,
    succeeded: paint.green,
  };
  const out: string[] = [];
  for (const group of GROUPS) {
    const members = result.targets.filter((t) => t.status === group);
    if (members.length === 0) continue;
    out.push(colour[group](paint.bold(`${group} (${members.length})`)));
    for (const t of members)
      out.push(`  ${colour[group](clean(t.server).padEnd(width))}  ${targetLine(result.command, t)}`);
  }
  const args = Object.entries(result.args)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const s = result.summary;
  const status = result.status === 'succeeded' ? paint.green : paint.red;
  out.push(
    `${result.command}${args ? ` ${args}` : ''}: ${status(result.status)} — ${s.succeeded} succeeded, ${s.failed} failed, ${s.unreachable} unreachable, ${s.skipped} skipped of ${s.total} ${paint.dim(`(${result.operationId})`)}`,
  );
  if (result.callback) {
    const c = result.callback;
    out.push(
      c.delivered
        ? `callback delivered (attempt ${c.attempts})`
        : paint.red(`callback NOT delivered after ${c.attempts} attempts: ${c.lastError ?? ''}`),
    );
  }
  return out.join('\n');
}
