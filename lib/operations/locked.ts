import { BootstrapError } from '../errors.ts';
import { parseLockRecord } from '../host/parse.ts';

/** `LOCKED`, naming the holder's PID, operation and command (SPEC 2.3). */
export function lockedError(server: string, record: string): BootstrapError {
  const holder = parseLockRecord(record);
  const what = holder.command
    ? `${holder.command} (${holder.operation ?? 'unknown operation'})`
    : 'an operation';
  const since = holder.started_at ? ` since ${holder.started_at}` : '';
  return new BootstrapError(
    'LOCKED',
    `${server}: locked by pid ${holder.pid ?? 'unknown'} running ${what}${since}`,
    {
      server,
      ...holder,
    },
  );
}
