/**
 * How ssh2's failures become SPEC 2.6 codes, each naming the host, the port and the cause.
 * ssh2 reports errors as plain `Error`s with a `level` (`client-socket`, `handshake`,
 * `client-authentication`, `client-timeout`, `protocol`) and sometimes a socket `code`.
 */
import type { ErrorCode } from '../../errors.ts';
import { BootstrapError } from '../../errors.ts';
import type { ResolvedEndpoint } from './endpoint.ts';

/** Socket failures that a busy sshd (`MaxStartups`) produces before authentication: worth a retry. */
const RETRYABLE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export interface Ssh2Error extends Error {
  level?: string;
  code?: string | number;
}

/** A BootstrapError about one endpoint, with the cause's message in `details.cause`. */
export function sshError(
  code: ErrorCode,
  endpoint: ResolvedEndpoint,
  problem: string,
  cause?: unknown,
  extra: Record<string, unknown> = {},
): BootstrapError {
  const causeText = cause instanceof Error ? cause.message : cause === undefined ? problem : String(cause);
  return new BootstrapError(
    code,
    `${endpoint.label}: ${problem}`,
    {
      host: endpoint.host,
      port: endpoint.port,
      user: endpoint.user,
      transport: 'ssh',
      cause: causeText,
      ...extra,
    },
    cause === undefined ? undefined : { cause },
  );
}

/** Whether a failure before authentication may be a connection reset by a busy server. */
export function isRetryableBeforeAuth(error: Ssh2Error): boolean {
  if (typeof error.code === 'string' && RETRYABLE_SOCKET_CODES.has(error.code)) return true;
  return (
    error.message === 'Connection lost before handshake' || /kex_exchange_identification/.test(error.message)
  );
}

/** Maps an ssh2 connection error (host-key refusals are handled by the caller, which knows the verdict). */
export function mapConnectError(endpoint: ResolvedEndpoint, error: Ssh2Error): BootstrapError {
  switch (error.level) {
    case 'client-authentication':
      return sshError('AUTH_FAILED', endpoint, 'authentication failed (no key was accepted)', error);
    case 'client-timeout':
      return sshError('TRANSPORT_TIMEOUT', endpoint, error.message, error);
    case 'handshake':
      return sshError('UNREACHABLE', endpoint, `handshake failed: ${error.message}`, error, {
        reason: 'handshake',
      });
    default:
      return sshError('UNREACHABLE', endpoint, `cannot connect: ${error.message}`, error);
  }
}
