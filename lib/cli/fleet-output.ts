/**
 * A fleet run for people (SPEC 6): one line per host with what the command answered there,
 * grouped by outcome (failed, unreachable, skipped, then succeeded), then a summary line; colour
 * only on a terminal and never under `NO_COLOR` (https://no-color.org).
 */
import type { FleetResult, TargetReport } from '../fleet/index.ts';
import type { AppstackAnswer, HeartbeatAnswer, Journal } from '../operations/index.ts';

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

// Values and messages may carry bytes from a host: no escape sequence reaches the terminal.
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

function shown(value: string): string {
  return value === '' || value !== value.trim() || /[\t"]/.test(value) ? JSON.stringify(value) : clean(value);
}

function failingChecks(a: AppstackAnswer): string[] {
  return Object.entries(a.products).flatMap(([product, p]) =>
    p.checks
      .filter((c) => !c.ok)
      .map((c) => `${product} ${c.check}${c.detail ? ` (${clean(c.detail)})` : ''}`),
  );
}

/** What one host answered, in a line: the value, the mode, the appstack status, the journal's end. */
export function answerLine(command: string, answer: unknown): string {
  const a = answer as Record<string, unknown>;
  switch (command) {
    case 'product.get':
    case 'product.set': {
      if ('key' in a) return a['value'] === null ? '(unset)' : shown(String(a['value']));
      const config = Object.entries(a['config'] as Record<string, string>).map(
        ([k, v]) => `${k}=${shown(v)}`,
      );
      const state = a['state'] as Record<string, string | undefined>;
      const version = state['version'] ? ` ${state['version']}` : '';
      return `${config.length ? config.join(' ') : '(no keys set)'}  [${state['status'] ?? 'not provisioned'}${version}]`;
    }
    case 'server.mode':
      return String(a['mode']);
    case 'heartbeat.appstack': {
      const app = answer as AppstackAnswer;
      const failing = failingChecks(app);
      return failing.length ? `${app.status}: failing ${failing.join(', ')}` : app.status;
    }
    case 'heartbeat.get': {
      const h = answer as HeartbeatAnswer;
      const products = Object.entries(h.products)
        .map(([p, s]) => `${p} ${s.version ?? '-'} ${s.status ?? 'not provisioned'}`)
        .join(', ');
      return `mode ${h.mode}, role ${h.role ?? '(none)'}${products ? `, ${products}` : ''}${h.lock ? `, locked by ${h.lock.command}` : ''}`;
    }
    case 'server.provision':
    case 'product.upgrade':
    case 'operation.get': {
      const j = answer as Journal;
      const version = typeof j.args['version'] === 'string' ? `version ${j.args['version']} ` : '';
      return `${version}${j.status} (${j.id})`;
    }
    default:
      return JSON.stringify(answer);
  }
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
