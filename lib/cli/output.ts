import type { ErrorBody } from '../errors.ts';
import type { AppstackAnswer, HeartbeatAnswer, Journal } from '../operations/index.ts';

/** A value as a person reads it: bare when unambiguous, JSON-quoted when spaces or emptiness would hide it. */
function shown(value: string): string {
  return value === '' || value !== value.trim() || /[\t"]/.test(value) ? JSON.stringify(value) : value;
}

function lines(entries: Record<string, string | undefined | null>, indent: string): string[] {
  return Object.entries(entries)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${indent}${k} = ${shown(v as string)}`);
}

function journalText(j: Journal): string {
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

function heartbeatText(h: HeartbeatAnswer): string {
  const out = [
    `mode ${h.mode}, role ${h.role ?? '(none)'}, up ${h.uptimeSeconds} s, load ${h.load.join(' ')}`,
  ];
  for (const [name, p] of Object.entries(h.products))
    out.push(`  ${name}: ${p.status ?? 'not provisioned'}${p.version ? ` ${p.version}` : ''}`);
  out.push(
    h.lock ? `  locked by pid ${h.lock.pid} running ${h.lock.command} (${h.lock.operation})` : '  not locked',
  );
  if (h.lastOperation)
    out.push(
      `  last operation: ${h.lastOperation.command} ${h.lastOperation.status} (${h.lastOperation.id})`,
    );
  return out.join('\n');
}

function appstackText(a: AppstackAnswer): string {
  const out: string[] = [a.status];
  for (const [name, p] of Object.entries(a.products)) {
    out.push(`  ${name}: ${p.status}`);
    for (const c of p.checks)
      out.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  return out.join('\n');
}

/** The human-readable rendering of a command's answer. */
export function formatHuman(command: string, answer: unknown): string {
  const a = answer as Record<string, unknown>;
  if (a['dryRun'] === true) return String(a['program']);
  switch (command) {
    case 'product.get':
    case 'product.set': {
      if ('key' in a) return a['value'] === null ? '' : String(a['value']);
      const out = [String(a['product'])];
      const config = a['config'] as Record<string, string>;
      out.push('  config:', ...(Object.keys(config).length ? lines(config, '    ') : ['    (no keys set)']));
      const state = a['state'] as Record<string, string>;
      if (Object.keys(state).length) out.push('  state:', ...lines(state, '    '));
      return out.join('\n');
    }
    case 'server.mode':
      return String(a['mode']);
    case 'server.provision':
    case 'product.upgrade':
    case 'operation.get':
      return journalText(answer as Journal);
    case 'heartbeat.get':
      return heartbeatText(answer as HeartbeatAnswer);
    case 'heartbeat.appstack':
      return appstackText(answer as AppstackAnswer);
    default:
      return JSON.stringify(answer, null, 2);
  }
}

export function formatError(error: ErrorBody): string {
  return `error: ${error.code}: ${error.message}`;
}
