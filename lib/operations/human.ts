/**
 * Answers as a person reads them: the CLI's text for one server (`text`) and the one line a
 * fleet run shows per host (`line`). Each command's row (registry.ts) names its pair.
 */
import type { AppstackAnswer, HeartbeatAnswer } from './heartbeat.ts';
import type { Journal } from './journal.ts';

/** A value as a person reads it: bare when unambiguous, JSON-quoted when spaces or emptiness would hide it. */
function shown(value: string): string {
  return value === '' || value !== value.trim() || /[\t"]/.test(value) ? JSON.stringify(value) : value;
}

// In a fleet line, values and messages may carry bytes from a host: no escape sequence reaches
// the terminal.
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

function shownClean(value: string): string {
  return value === '' || value !== value.trim() || /[\t"]/.test(value) ? JSON.stringify(value) : clean(value);
}

function lines(entries: Record<string, string | undefined | null>, indent: string): string[] {
  return Object.entries(entries)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${indent}${k} = ${shown(v as string)}`);
}

/** `product.get` / `product.set`: one key's value, or the config and state. */
export function productText(answer: unknown): string {
  const a = answer as Record<string, unknown>;
  if ('key' in a) return a['value'] === null ? '' : String(a['value']);
  const out = [String(a['product'])];
  const config = a['config'] as Record<string, string>;
  out.push('  config:', ...(Object.keys(config).length ? lines(config, '    ') : ['    (no keys set)']));
  const state = a['state'] as Record<string, string>;
  if (Object.keys(state).length) out.push('  state:', ...lines(state, '    '));
  return out.join('\n');
}

export function productLine(answer: unknown): string {
  const a = answer as Record<string, unknown>;
  if ('key' in a) return a['value'] === null ? '(unset)' : shownClean(String(a['value']));
  const config = Object.entries(a['config'] as Record<string, string>).map(
    ([k, v]) => `${k}=${shownClean(v)}`,
  );
  const state = a['state'] as Record<string, string | undefined>;
  const version = state['version'] ? ` ${state['version']}` : '';
  return `${config.length ? config.join(' ') : '(no keys set)'}  [${state['status'] ?? 'not provisioned'}${version}]`;
}

export function modeText(answer: { mode: string }): string {
  return String(answer.mode);
}

export function journalText(j: Journal): string {
  const args = Object.entries(j.args)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const out = [
    `${j.command} ${args} — ${j.status} (${j.id})`,
    `  started ${j.startedAt}${j.finishedAt ? `, finished ${j.finishedAt}` : ''}`,
  ];
  for (const step of j.steps) out.push(`  ${step.product} ${step.action}: exit ${step.exitCode}`);
  if (j.staleLockRemoved)
    out.push(`  took over a stale lock of pid ${j.staleLockRemoved.pid} (${j.staleLockRemoved.operation})`);
  if (j.error) {
    out.push(`  error: ${j.error.code}: ${j.error.message}`);
    const last = j.steps.at(-1);
    if (last && last.exitCode !== 0 && last.output !== '') {
      out.push(
        '  last output:',
        ...last.output
          .trimEnd()
          .split('\n')
          .map((l) => `    ${l}`),
      );
    }
  }
  return out.join('\n');
}

export function journalLine(j: Journal): string {
  const version = typeof j.args['version'] === 'string' ? `version ${j.args['version']} ` : '';
  return `${version}${j.status} (${j.id})`;
}

export function heartbeatText(h: HeartbeatAnswer): string {
  const out = [
    `mode ${h.mode}, role ${h.role ?? '(none)'}, up ${h.uptimeSeconds} s, load ${h.load.join(' ')}`,
  ];
  for (const [name, p] of Object.entries(h.products))
    out.push(`  ${name}: ${p.status ?? 'not provisioned'}${p.version ? ` ${p.version}` : ''}`);
  out.push(
    h.lock ? `  locked by pid ${h.lock.pid} running ${h.lock.command} (${h.lock.operation})` : '  not locked',
  );
  const last = h.lastOperation;
  if (last) {
    out.push(
      `  last operation: ${last.command ?? '(command unknown)'} ${last.status} (${last.id ?? 'id unknown'})`,
    );
    if ('error' in last) out.push(`    ${last.error.message}`);
  }
  return out.join('\n');
}

export function heartbeatLine(h: HeartbeatAnswer): string {
  const products = Object.entries(h.products)
    .map(([p, s]) => `${p} ${s.version ?? '-'} ${s.status ?? 'not provisioned'}`)
    .join(', ');
  return `mode ${h.mode}, role ${h.role ?? '(none)'}${products ? `, ${products}` : ''}${h.lock ? `, locked by ${h.lock.command}` : ''}`;
}

export function appstackText(a: AppstackAnswer): string {
  const out: string[] = [a.status];
  for (const [name, p] of Object.entries(a.products)) {
    out.push(`  ${name}: ${p.status}`);
    for (const c of p.checks)
      out.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  return out.join('\n');
}

export function appstackLine(a: AppstackAnswer): string {
  const failing = Object.entries(a.products).flatMap(([product, p]) =>
    p.checks
      .filter((c) => !c.ok)
      .map((c) => `${product} ${c.check}${c.detail ? ` (${clean(c.detail)})` : ''}`),
  );
  return failing.length ? `${a.status}: failing ${failing.join(', ')}` : a.status;
}
