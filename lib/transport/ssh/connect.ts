/**
 * Opening one authenticated ssh2 client: TCP (or a jump host's channel), the handshake with our
 * algorithm lists, the host-key decision in ssh2's `hostVerifier` — before the client sends its
 * user name or a signature, let alone a command — and key authentication. A reset before
 * authentication (a busy sshd's `MaxStartups`) is retried with backoff; everything else fails
 * at once with its code.
 */
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ClientChannel, Client as Ssh2Client } from 'ssh2';
import ssh2 from 'ssh2';
import type { BootstrapError } from '../../errors.ts';
import { sshAlgorithms } from './algorithms.ts';
import { KeyLoadError, loadClientKeys } from './auth.ts';
import { coalesceWrites } from './coalesce.ts';
import type { ResolvedEndpoint } from './endpoint.ts';
import type { Ssh2Error } from './errors.ts';
import { isRetryableBeforeAuth, mapConnectError, sshError } from './errors.ts';
import { skipHostKeyProof } from './host-key-proof.ts';
import type { HostKeyCheck, HostKeyVerdict } from './host-keys.ts';
import { loadHostKeyCheck } from './host-keys.ts';
import { pipelineAuth } from './pipelined-auth.ts';
import { signFirst } from './sign-first.ts';
import { serverSoftware } from './ssh2-internals.ts';

export interface ConnectSettings {
  /** Whole budget for TCP, handshake and authentication, retries included. */
  connectTimeoutMs: number;
  /** SSH-level keepalive (keepalive.ts): a request every interval, the connection dropped after `countMax` unanswered. */
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  /** Attempts when the server resets the connection before authentication. */
  connectAttempts: number;
}

/** Opens the byte stream to the server: TCP, or a channel through a jump host. */
export type SocketOpener = (signal: AbortSignal) => Promise<Duplex>;

export interface OpenedClient {
  client: Ssh2Client;
  sock: Duplex;
  hostKey: HostKeyVerdict & { ok: true };
  /** The exec started with the login (see `speculateFirstExec`), for the connection's first program. */
  early?: EarlyExec;
}

/** An exec channel asked for in the flight of the login: `command` started, nothing on its stdin yet. */
export interface EarlyExec {
  command: string;
  channel: Promise<ClientChannel>;
}

class Retryable extends Error {
  constructor(readonly mapped: BootstrapError) {
    super(mapped.message);
  }
}

/** The connect given up because its connection was closed meanwhile (`signal` aborted). */
function closedMeanwhile(endpoint: ResolvedEndpoint): BootstrapError {
  return sshError('UNREACHABLE', endpoint, 'connection closed by the client');
}

/**
 * Connects and authenticates, or rejects with UNREACHABLE, AUTH_FAILED, HOST_KEY_MISMATCH or
 * TRANSPORT_TIMEOUT. `signal` gives the connect up at once (the connection closed while a host
 * that accepted TCP had not answered yet): nothing waits for its timeout.
 */
export async function connectClient(
  endpoint: ResolvedEndpoint,
  settings: ConnectSettings,
  openSocket: SocketOpener,
  signal: AbortSignal = new AbortController().signal,
  firstCommand?: string,
): Promise<OpenedClient> {
  const deadline = Date.now() + settings.connectTimeoutMs;
  let agent: Awaited<ReturnType<typeof loadClientKeys>>;
  try {
    agent = await loadClientKeys(endpoint.keys);
  } catch (error) {
    if (error instanceof KeyLoadError) throw sshError('AUTH_FAILED', endpoint, error.message, error);
    throw error;
  }
  let check: HostKeyCheck;
  try {
    check = await loadHostKeyCheck(endpoint.trust, endpoint.host, endpoint.port);
  } catch (error) {
    throw sshError(
      'HOST_KEY_MISMATCH',
      endpoint,
      `cannot read known_hosts: ${(error as Error).message}`,
      error,
      {
        reason: 'unknown',
      },
    );
  }
  for (let attempt = 1; ; attempt += 1) {
    if (signal.aborted) throw closedMeanwhile(endpoint);
    try {
      return await connectOnce(endpoint, openSocket, agent, check, deadline, signal, firstCommand);
    } catch (error) {
      if (!(error instanceof Retryable)) throw error;
      const delay = 100 * 2 ** (attempt - 1) * (0.5 + Math.random());
      if (attempt >= settings.connectAttempts || Date.now() + delay >= deadline || signal.aborted)
        throw error.mapped;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function connectOnce(
  endpoint: ResolvedEndpoint,
  openSocket: SocketOpener,
  agent: Awaited<ReturnType<typeof loadClientKeys>>,
  check: HostKeyCheck,
  deadline: number,
  closing: AbortSignal,
  firstCommand: string | undefined,
): Promise<OpenedClient> {
  return new Promise((resolve, reject) => {
    let early: EarlyExec | undefined;
    const abort = new AbortController();
    const onClosing = () => fail(closedMeanwhile(endpoint));
    let client: Ssh2Client | undefined;
    let sock: Duplex | undefined;
    let verdict: HostKeyVerdict | undefined;
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      closing.removeEventListener('abort', onClosing);
      abort.abort();
      client?.removeAllListeners('ready');
      client?.on('error', () => {});
      client?.end();
      sock?.destroy();
      reject(error);
    };
    const budget = Math.max(0, deadline - Date.now());
    const timer = setTimeout(
      () =>
        fail(
          sshError(
            'TRANSPORT_TIMEOUT',
            endpoint,
            `no SSH session within ${budget} ms (connect, handshake, authentication)`,
          ),
        ),
      budget,
    );
    if (closing.aborted) return fail(closedMeanwhile(endpoint));
    closing.addEventListener('abort', onClosing, { once: true });

    openSocket(abort.signal).then(
      (opened) => {
        if (settled) {
          opened.destroy();
          return;
        }
        sock = opened;
        coalesceWrites(opened);
        const c = new ssh2.Client();
        client = c;
        c.on('error', (error: Ssh2Error) => {
          if (verdict && !verdict.ok) {
            return fail(
              sshError('HOST_KEY_MISMATCH', endpoint, verdict.message, error, {
                reason: verdict.reason,
                fingerprint: verdict.fingerprint,
                ...(endpoint.trust.knownHostsFile ? { knownHosts: endpoint.trust.knownHostsFile } : {}),
              }),
            );
          }
          const mapped = mapConnectError(endpoint, error);
          fail(
            error.level !== 'client-authentication' && isRetryableBeforeAuth(error)
              ? new Retryable(mapped)
              : mapped,
          );
        });
        // Every connection closes in the end: the error is only built for one that closed too early.
        c.on('close', () => {
          if (!settled)
            fail(new Retryable(sshError('UNREACHABLE', endpoint, 'connection closed before authentication')));
        });
        c.on('ready', () => {
          if (settled || !verdict?.ok)
            return fail(sshError('INTERNAL', endpoint, 'ready without a verified host key'));
          settled = true;
          clearTimeout(timer);
          closing.removeEventListener('abort', onClosing);
          // The listeners above stay: after `settled` they do nothing, and the connection adds its own.
          resolve({ client: c, sock: opened, hostKey: verdict, ...(early ? { early } : {}) });
        });
        c.connect({
          sock: opened,
          username: endpoint.user,
          agent,
          // Only our agent: no `none` probe, never a password or keyboard-interactive prompt.
          authHandler: ['agent'],
          agentForward: false,
          algorithms: sshAlgorithms(check.keyTypes),
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            check.verify(key).then(
              (result) => {
                verdict = result;
                verify(result.ok);
              },
              (error: Error) => {
                verdict = {
                  ok: false,
                  fingerprint: '',
                  reason: 'unknown',
                  message: `cannot record the new host key: ${error.message}`,
                };
                verify(false);
              },
            );
          },
          // Timeouts and keepalives are ours (connectTimeoutMs above, keepalive.ts after login).
          readyTimeout: 0,
          keepaliveInterval: 0,
        });
        // Our own keys sign their first request (one round trip less; sign-first.ts), and the
        // connection's first exec may be asked for right behind it (speculateFirstExec).
        signFirst(
          c,
          agent,
          firstCommand !== undefined && agent.soleOwnKey
            ? () => {
                early ??= speculateFirstExec(c, firstCommand);
              }
            : undefined,
        );
        // sshd's announcement of its other host keys is not answered with a proof (host-key-proof.ts).
        skipHostKeyProof(c);
        // The first auth request goes with the service request (one round trip less; pipelined-auth.ts).
        pipelineAuth(c);
      },
      (error: unknown) => fail(error),
    );
  });
}

/**
 * The connection's first exec, asked for in the same flight as the signed login request: one
 * round trip less for the first program. sshd reads a connection's packets in order, and once the
 * login succeeds the channel request behind it is read as if it had waited for the success (the
 * unread input goes to the session's process with the rest of the connection's state). It is
 * asked for only
 *
 * - of OpenSSH servers: before a login succeeds sshd answers such a request UNIMPLEMENTED and
 *   goes on, where dropbear ends the connection;
 * - with a sole key of our own and no agent (`soleOwnKey`): a login that fails with it has failed
 *   altogether, so a channel request that met a failed login is never waited for (the connection
 *   ends, and ssh2 fails the request with it).
 *
 * The command starts and waits on its stdin, which is only written when the connection's first
 * program takes the channel (connection.ts): a channel never taken runs nothing. Undefined where
 * the conditions do not hold.
 */
function speculateFirstExec(client: Ssh2Client, command: string): EarlyExec | undefined {
  if (!serverSoftware(client)?.startsWith('OpenSSH_')) return undefined;
  const channel = new Promise<ClientChannel>((resolve, reject) => {
    try {
      client.exec(command, (error, opened) => (error ? reject(error) : resolve(opened)));
    } catch (error) {
      reject(error);
    }
  });
  // Taken by the first program, or ended with the connection: never reported on its own.
  channel.catch(() => {});
  return { command, channel };
}

/** A TCP connection with Nagle off: on a reused connection every exec otherwise waits ~40 ms for delayed ACKs. */
export function openTcp(endpoint: ResolvedEndpoint): SocketOpener {
  return (signal) =>
    new Promise((resolve, reject) => {
      const sock = tcpConnect({ host: endpoint.host, port: endpoint.port });
      sock.setNoDelay(true);
      const onAbort = () => sock.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        sock.removeAllListeners('error');
        // ssh2 reports socket errors itself; this keeps one arriving before it listens from throwing.
        sock.on('error', () => {});
        resolve(sock);
      });
      sock.once('error', (error: NodeJS.ErrnoException) => {
        signal.removeEventListener('abort', onAbort);
        const mapped = sshError('UNREACHABLE', endpoint, `cannot connect: ${error.message}`, error, {
          ...(error.code ? { reason: error.code } : {}),
        });
        reject(
          error.code && ['ECONNRESET', 'ECONNABORTED'].includes(error.code) ? new Retryable(mapped) : mapped,
        );
      });
    });
}
