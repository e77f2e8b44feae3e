import { randomBytes } from 'node:crypto';
import { assertOperationId } from '../config/names.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A new operation id: `op_` and a ULID (48-bit time, 80 random bits, Crockford base32). */
export function newOperationId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[(bytes[i] ?? 0) % 32];
  return `op_${time}${random}`;
}

/**
 * The id a quick change (`product.set`, `server.mode MODE`) records: the caller's when it has one
 * (a fleet run's, which its callback carries: SPEC 2.5's one id per operation, in `last_operation`,
 * the lock record, the answer and the callback), else a new one.
 */
export function quickOperationId(options: { operationId?: string | undefined }): string {
  if (options.operationId === undefined) return newOperationId();
  assertOperationId(options.operationId);
  return options.operationId;
}
