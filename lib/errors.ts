/**
 * The one error type of the project: every failure carries a code from SPEC 2.6, a message for
 * people and details for programs. Callers switch on `code`; the CLI and the API map it with
 * `exitCodeFor` and `httpStatusFor`.
 */

export const ERROR_CODES = [
  'INVALID_REQUEST',
  'INVALID_KEY',
  'INVALID_VALUE',
  'INVALID_MODE',
  'UNKNOWN_PRODUCT',
  'UNKNOWN_ROLE',
  'UNKNOWN_SERVER',
  'INVALID_SCRIPT',
  'LOCKED',
  'HOOK_FAILED',
  'HOOK_TIMEOUT',
  'CONFIG_ERROR',
  'UNREACHABLE',
  'AUTH_FAILED',
  'HOST_KEY_MISMATCH',
  'TRANSPORT_TIMEOUT',
  'UNHEALTHY',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorDetails = Record<string, unknown>;

/** The JSON shape of an error everywhere: CLI `--json`, API bodies, fleet targets, journals. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_REQUEST: 2,
  INVALID_KEY: 2,
  INVALID_VALUE: 2,
  INVALID_MODE: 2,
  UNKNOWN_PRODUCT: 2,
  UNKNOWN_ROLE: 2,
  UNKNOWN_SERVER: 2,
  INVALID_SCRIPT: 4,
  LOCKED: 3,
  HOOK_FAILED: 4,
  HOOK_TIMEOUT: 4,
  CONFIG_ERROR: 6,
  UNREACHABLE: 5,
  AUTH_FAILED: 5,
  HOST_KEY_MISMATCH: 5,
  TRANSPORT_TIMEOUT: 5,
  UNHEALTHY: 7,
  INTERNAL: 1,
};

const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_KEY: 422,
  INVALID_VALUE: 422,
  INVALID_MODE: 422,
  UNKNOWN_PRODUCT: 404,
  UNKNOWN_ROLE: 422,
  UNKNOWN_SERVER: 404,
  INVALID_SCRIPT: 422,
  LOCKED: 409,
  // A hook's failure is the outcome of an accepted operation: it is reported inside a 200 body.
  HOOK_FAILED: 200,
  HOOK_TIMEOUT: 200,
  CONFIG_ERROR: 424,
  UNREACHABLE: 502,
  AUTH_FAILED: 502,
  HOST_KEY_MISMATCH: 502,
  TRANSPORT_TIMEOUT: 504,
  // The heartbeat route reports the status in its 200 body (SPEC 2.6).
  UNHEALTHY: 200,
  INTERNAL: 500,
};

export class BootstrapError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BootstrapError';
    this.code = code;
    this.details = details;
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODES[code];
}

export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** Any thrown value as a BootstrapError: ours pass through, anything else is a bug (`INTERNAL`). */
export function toBootstrapError(error: unknown): BootstrapError {
  if (error instanceof BootstrapError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BootstrapError('INTERNAL', `internal error: ${message}`, {}, { cause: error });
}

/** The error shape of SPEC 2.6 for any thrown value. */
export function errorBody(error: unknown): ErrorBody {
  return toBootstrapError(error).toJSON();
}

/** `CONFIG_ERROR` naming the file, the section and the key (SPEC 2.1), as every config reader reports it. */
export function configError(
  file: string,
  section: string | null,
  key: string | null,
  problem: string,
): BootstrapError {
  const where = [section === null ? null : `[${section}]`, key].filter((part) => part !== null).join(' ');
  return new BootstrapError('CONFIG_ERROR', `${file}: ${where ? `${where}: ` : ''}${problem}`, {
    file,
    section,
    key,
  });
}
