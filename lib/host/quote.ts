import { BootstrapError } from '../errors.ts';

/**
 * The one way a value enters a shell program: a single-quoted word, `'` written as `'\''`.
 * Inside single quotes sh interprets nothing, so `$(…)`, backticks, `;` and quotes stay data.
 * NUL cannot be carried by a shell word at all and is refused.
 */
export function shq(value: string): string {
  if (value.includes('\0'))
    throw new BootstrapError('INVALID_VALUE', 'a value with NUL cannot reach the host');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Data that is not a word (file contents): base64, which is inert in any shell context. */
export function b64(data: string | Buffer): string {
  return Buffer.from(data).toString('base64');
}
