import { BootstrapError } from '../errors.ts';

/** SPEC 2.1: product and role names. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** SPEC 2.1: config keys. */
export const KEY_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** Operation ids: ours are `op_` + a ULID; callers may pass their own for idempotency. */
export const OPERATION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Modes are names too. */
export const MODE_PATTERN = NAME_PATTERN;
/** Versions handed to upgrade hooks: one printable token, no path tricks. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,127}$/;

export const MAX_VALUE_BYTES = 4096;

/**
 * Why a value breaks SPEC 2.1's rule (one line of printable UTF-8, at most 4096 bytes), or null
 * when it is allowed. Tabs are allowed; other control characters, DEL, C1 controls and lone
 * surrogates are not.
 */
export function valueProblem(value: string): string | null {
  if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) return `longer than ${MAX_VALUE_BYTES} bytes`;
  if (value.includes('\0')) return 'contains NUL';
  if (/[\r\n]/.test(value)) return 'contains a line break (CR or LF)';
  if (/[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(value))
    return 'contains a control character';
  if (!value.isWellFormed()) return 'is not valid UTF-8 (lone surrogate)';
  return null;
}

export function assertValue(product: string, key: string, value: string): void {
  const problem = valueProblem(value);
  if (problem) {
    throw new BootstrapError('INVALID_VALUE', `value for ${product}.${key} ${problem}`, {
      product,
      key,
      reason: problem,
    });
  }
}

export function assertName(kind: 'product' | 'role' | 'mode', value: string): void {
  if (!NAME_PATTERN.test(value)) {
    throw new BootstrapError('INVALID_REQUEST', `invalid ${kind} name ${JSON.stringify(value)}`, {
      [kind]: value,
      pattern: NAME_PATTERN.source,
    });
  }
}

export function assertOperationId(value: string): void {
  if (!OPERATION_ID_PATTERN.test(value)) {
    throw new BootstrapError('INVALID_REQUEST', `invalid operation id ${JSON.stringify(value)}`, {
      operationId: value,
      pattern: OPERATION_ID_PATTERN.source,
    });
  }
}
