/**
 * One SSH connection to one host, shared by every exec to it: channels are opened within the
 * server's `MaxSessions` (a refused channel waits for a free one on the same connection), the
 * socket keeps the process alive only while something runs, and an idle connection closes.
 * A program's result is only ever reported when the server finished its output and sent its
 * exit status; a connection lost before that rejects, never resolving with a partial stdout.
 */
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { ClientChannel, Client as Ssh2Client } from 'ssh2';
import { BootstrapError, type ErrorCode } from '../../errors.ts';
import type { ExecResult } from '../types.ts';
import type { ConnectSettings, EarlyExec, OpenedClient, SocketOpener } from './connect.ts';
import { connectClient } from './connect.ts';
import type { ResolvedEndpoint } from './endpoint.ts';
import type { Ssh2Error } from './errors.ts';
import { sshError } from './errors.ts';
import { startKeepalive } from './keepalive.ts';
import { HostSession, NOT_STARTED, SESSION_COMMAND } from './session.ts';
import { ChannelSlots } from './slots.ts';

export interface ConnectionSettings extends ConnectSettings {
  /** Close a connection unused for this long. */
  idleTimeoutMs: number;
  /** Channels open at once per connection before the server tells us its own limit. */
  maxSessions: number;
}

export interface ConnectionHooks {
  openSocket: SocketOpener;
  /** The jump host this connection goes through, if any. */
  hop: SshConnection | null;
  onClosed(connection: SshConnection): void;
  onChannelRetry(): void;
  onSessionStart(): void;
}

interface InFlight {
  channel: ClientChannel;
  exited: boolean;
  cut: boolean;
}

const MAX_REFUSALS = 200;

/** Marks an exec that failed before its program was sent: safe to retry on a new connection. */
export class NotSentError extends BootstrapError {}

export class SshConnection {
  readonly endpoint: ResolvedEndpoint;
  readonly #settings: ConnectionSettings;
  readonly #hooks: ConnectionHooks;
  readonly #slots: ChannelSlots;
  readonly #ready: Promise<OpenedClient>;
  /** Gives up a connect still in progress when the connection is closed. */
  readonly #connecting = new AbortController();
  readonly #inFlight = new Set<InFlight>();
  #opened: OpenedClient | undefined;
  /** The exec asked for with the login, until the first program takes it. */
  #early: EarlyExec | undefined;
  #closed = false;
  #closing = false;
  /** Why the connection ended, the first reason winning; its error is built when someone needs it. */
  #lostWhy: { code: ErrorCode; problem: string; cause?: unknown } | undefined;
  #lostError: BootstrapError | undefined;
  #busy = 0;
  #dependents = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #stopKeepalive: () => void = () => {};
  #session: HostSession | undefined;
  #sessionStarts = 0;
  #sessionsOff = false;
  #framedPrograms = 0;
  #released = false;
  #ended = false;

  /**
   * `firstCommand`: the command this connection's first program runs, asked for with the login
   * where the server and keys allow it (connect.ts `speculateFirstExec`); none for a jump host.
   */
  constructor(
    endpoint: ResolvedEndpoint,
    settings: ConnectionSettings,
    hooks: ConnectionHooks,
    firstCommand?: string,
  ) {
    this.endpoint = endpoint;
    // The ssh config's ConnectTimeout and ServerAliveInterval for this host win over the pool's.
    this.#settings = { ...settings, ...endpoint.timing };
    this.#hooks = hooks;
    this.#slots = new ChannelSlots(settings.maxSessions);
    this.#ready = connectClient(
      endpoint,
      this.#settings,
      hooks.openSocket,
      this.#connecting.signal,
      firstCommand,
    ).then(
      (opened) => this.#adopt(opened),
      (error: unknown) => {
        this.#markClosed();
        throw error;
      },
    );
    // Awaited by every user; this only keeps an unawaited failure from being reported as unhandled.
    this.#ready.catch(() => {});
  }

  /** Closed or closing: the pool hands out a new connection instead. */
  get closed(): boolean {
    return this.#closed || this.#closing;
  }

  /** The channel limit currently applied (lowered when the server refused a channel). */
  get channelLimit(): number {
    return this.#slots.limit;
  }

  /** Runs `command` with `program` on its stdin and collects everything it prints. */
  async exec(command: string, program: string, signal: AbortSignal): Promise<ExecResult> {
    this.hold();
    try {
      const { client } = await abortable(this.#ready, signal);
      // Refused with nothing else open means the server allows no session at all (MaxSessions 0,
      // or sessions forbidden for this key): a few spaced tries, then an error.
      let aloneRefusals = 0;
      for (let refusals = 0; ; refusals += 1) {
        await this.#slots.acquire(signal);
        let channel: ClientChannel;
        try {
          channel =
            (await this.#earlyExec(command, signal)) ?? (await this.#openExec(client, command, signal));
        } catch (error) {
          // A host session holds a channel the server may need for this one: give it back for good.
          if (isChannelRefusal(error) && this.#session) {
            this.#sessionsOff = true;
            if (this.#session.idle) this.#session.close();
          }
          const others = this.#slots.inUse - 1;
          if (others === 0) aloneRefusals += 1;
          if (!isChannelRefusal(error) || this.#closed || refusals >= MAX_REFUSALS || aloneRefusals > 5) {
            this.#slots.release();
            throw this.#mapOpenError(error);
          }
          this.#hooks.onChannelRetry();
          // The sessions held by others are what the server allows: lower the limit before giving
          // our slot back, so the slot does not go straight to another doomed open.
          if (others > 0) this.#slots.lowerTo(others);
          this.#slots.release();
          if (others === 0) await abortable(delay(20 * 2 ** aloneRefusals), signal);
          continue;
        }
        return await this.#run(channel, program, signal);
      }
    } finally {
      this.release();
    }
  }

  /**
   * Runs a frame (host-code.ts `sessionFrame`) in this connection's host session, starting one
   * for the second such program on the connection (a connection used once never pays for it).
   * NOT_STARTED when no session could take it and it never ran: the caller then uses exec.
   * `inShell`: a read (ExecRequest `readsOnly`), run in the session's shell itself (session.ts).
   * `load`: what a session started for this frame loads first (host-code.ts `sessionFrame`).
   */
  async runFramed(
    frame: string,
    load: string,
    signal: AbortSignal,
    inShell = false,
  ): Promise<ExecResult | typeof NOT_STARTED> {
    this.hold();
    try {
      const { client } = await abortable(this.#ready, signal);
      this.#framedPrograms += 1;
      if (this.#sessionsOff || this.#framedPrograms < 2) return NOT_STARTED;
      const session = this.#session ?? (await this.#startSession(client, load, signal));
      if (!session?.acceptsFrame) return NOT_STARTED;
      try {
        return await session.run(frame, signal, inShell);
      } finally {
        // Sessions were given up (the server refused a channel it holds): its slot goes back now.
        if (this.#sessionsOff) session.close();
      }
    } finally {
      this.release();
    }
  }

  /**
   * A session takes one channel slot for its life, only when one is free and another remains;
   * a connection gives up on sessions after two (one that died is replaced once).
   */
  async #startSession(
    client: Ssh2Client,
    load: string,
    signal: AbortSignal,
  ): Promise<HostSession | undefined> {
    if (this.#sessionStarts >= 2 || this.#slots.limit < 2 || !this.#slots.tryAcquire()) return undefined;
    this.#sessionStarts += 1;
    let channel: ClientChannel;
    try {
      channel = await this.#openExec(client, SESSION_COMMAND, signal);
    } catch (error) {
      this.#slots.release();
      if (signal.aborted) throw signal.reason;
      if (isChannelRefusal(error)) this.#sessionsOff = true;
      return undefined;
    }
    const session: HostSession = new HostSession(channel, load, {
      onEnd: () => {
        this.#slots.release();
        if (this.#session === session) this.#session = undefined;
      },
      error: (message) => sshError('UNREACHABLE', this.endpoint, message),
    });
    this.#session = session;
    this.#hooks.onSessionStart();
    return session;
  }

  /** Opens a TCP channel to `host:port` from this host (a jump hop). */
  async forwardOut(host: string, port: number, signal: AbortSignal): Promise<Duplex> {
    const { client } = await abortable(this.#ready, signal);
    return new Promise((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
        if (error) {
          reject(
            sshError(
              'UNREACHABLE',
              this.endpoint,
              `cannot reach ${host}:${port} through this jump host`,
              error,
            ),
          );
        } else {
          resolve(channel);
        }
      });
    });
  }

  /** Something runs on (or through) this connection: keep the process alive, do not idle-close. */
  hold(): void {
    this.#busy += 1;
    if (this.#busy > 1) return;
    clearTimeout(this.#idleTimer);
    this.#setRef(true);
    this.#hooks.hop?.hold();
  }

  release(): void {
    this.#busy -= 1;
    if (this.#busy > 0) return;
    this.#setRef(false);
    this.#hooks.hop?.release();
    this.#scheduleIdleClose();
  }

  /** A connection through this one exists: keep this one open while it does. */
  addDependent(): void {
    this.#dependents += 1;
    clearTimeout(this.#idleTimer);
  }

  removeDependent(): void {
    this.#dependents -= 1;
    this.#scheduleIdleClose();
  }

  /**
   * The run that opened this connection is done with its host: close as soon as nothing runs on
   * or through it, rather than after the idle timeout (a one-shot fleet run whose hosts' sessions
   * would otherwise all end together at its close). Anyone still using it keeps it until then.
   */
  closeWhenIdle(): void {
    this.#released = true;
    this.#scheduleIdleClose();
  }

  /** Ends the connection; running execs reject. */
  async close(): Promise<void> {
    if (this.#closed && !this.#opened) return;
    this.#closing = true;
    this.#lose('UNREACHABLE', 'connection closed by the client');
    // A host that accepted TCP and never answered would otherwise hold this close up for the
    // whole connect timeout.
    if (!this.#opened) this.#connecting.abort();
    const opened = this.#opened ?? (await this.#ready.catch(() => undefined));
    if (!opened || this.#closed) return;
    const closed = new Promise<void>((resolve) => opened.client.once('close', () => resolve()));
    // Someone awaits this close: the socket must keep the process alive until it is done.
    this.#setRef(true);
    this.#end(opened);
    await closed;
  }

  /**
   * Ends a connection nobody waits on (idle, or released): the process is not kept alive for the
   * server's answer, so a one-shot run exits as soon as its work is done.
   */
  #closeUnheld(): void {
    const opened = this.#opened;
    if (this.#closed || this.#closing || !opened) return;
    this.#closing = true;
    this.#lose('UNREACHABLE', 'connection closed by the client');
    this.#end(opened);
  }

  /** Sends the disconnect, once; a server that never answers is cut off after a second. */
  #end(opened: OpenedClient): void {
    if (this.#ended) return;
    this.#ended = true;
    const timer = setTimeout(() => opened.sock.destroy(), 1000);
    timer.unref();
    opened.client.once('close', () => clearTimeout(timer));
    opened.client.end();
  }

  #adopt(opened: OpenedClient): OpenedClient {
    this.#opened = opened;
    this.#early = opened.early;
    this.#setRef(this.#busy > 0);
    this.#hooks.hop?.addDependent();
    const { keepaliveIntervalMs, keepaliveCountMax } = this.#settings;
    this.#stopKeepalive = startKeepalive(opened.client, keepaliveIntervalMs, keepaliveCountMax, () => {
      this.#lose(
        'TRANSPORT_TIMEOUT',
        `connection lost: no answer to ${keepaliveCountMax} keepalives ${keepaliveIntervalMs} ms apart`,
      );
      opened.sock.destroy();
    });
    opened.client.on('error', (error: Ssh2Error) => {
      const code = error.level === 'client-timeout' ? 'TRANSPORT_TIMEOUT' : 'UNREACHABLE';
      this.#lose(code, `connection lost: ${error.message}`, error);
    });
    // ssh2 emits the client's 'close' before it closes the channels, so this sees which of them
    // the server had finished (EOF and exit status received) and which were cut.
    opened.client.once('close', () => {
      this.#lose('UNREACHABLE', 'connection lost');
      this.#session?.markLost(this.#lost());
      for (const flight of this.#inFlight) {
        const state = (flight.channel as unknown as { incoming?: { state?: string } }).incoming?.state;
        if (!flight.exited || state === 'open') flight.cut = true;
      }
      this.#markClosed();
      this.#hooks.hop?.removeDependent();
    });
    this.#scheduleIdleClose();
    return opened;
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#stopKeepalive();
    this.#lose('UNREACHABLE', 'connection lost');
    if (this.#slots.waiting > 0) this.#slots.failAll(this.#lost());
    this.#hooks.onClosed(this);
  }

  /**
   * The channel asked for with the login, for the first program that runs its command; undefined
   * when there is none (or it is taken, or it failed: the caller then opens one as usual, and
   * nothing ran, since its stdin was never written).
   */
  async #earlyExec(command: string, signal: AbortSignal): Promise<ClientChannel | undefined> {
    const early = this.#early;
    if (!early) return undefined;
    this.#early = undefined;
    if (early.command !== command) {
      // Asked for another command (a pool shared by transports that run different ones): closed
      // unused, its command ends at the end of its stdin having run nothing.
      early.channel.then(
        (channel) => channel.end(),
        () => {},
      );
      return undefined;
    }
    let channel: ClientChannel;
    try {
      channel = await early.channel;
    } catch {
      return undefined;
    }
    if (signal.aborted) {
      // The caller gave up meanwhile: nothing was sent on it.
      channel.close();
      throw signal.reason;
    }
    return channel;
  }

  #openExec(client: Ssh2Client, command: string, signal: AbortSignal): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error('connection lost'));
      try {
        client.exec(command, (error, channel) => {
          if (error) return reject(error);
          // The caller gave up while the channel was being opened: nothing was sent yet.
          if (signal.aborted) {
            channel.close();
            return reject(signal.reason);
          }
          resolve(channel);
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  #mapOpenError(error: unknown): unknown {
    if (error instanceof BootstrapError) return error;
    if (this.#closed) {
      const lost = this.#lost();
      return new NotSentError(lost.code, lost.message, lost.details, { cause: error });
    }
    return sshError(
      'UNREACHABLE',
      this.endpoint,
      `cannot start the program: ${(error as Error).message}`,
      error,
    );
  }

  #run(channel: ClientChannel, program: string, signal: AbortSignal): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const flight: InFlight = { channel, exited: false, cut: false };
      this.#inFlight.add(flight);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let exitCode: number | undefined;
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        // The program may go on on the host; closing the channel stops following it.
        channel.close();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (chunk: Buffer) => out.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      channel.on('exit', (code: number | null, signalName?: string) => {
        flight.exited = true;
        exitCode = code ?? 128 + signalNumber(signalName);
      });
      channel.on('error', () => {});
      channel.on('close', () => {
        this.#inFlight.delete(flight);
        this.#slots.release();
        signal.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        if (flight.cut || exitCode === undefined) {
          const lost = this.#lostWhy && this.#lost();
          reject(
            lost
              ? new BootstrapError(lost.code, `${lost.message} before the program finished`, lost.details, {
                  cause: lost,
                })
              : sshError(
                  'UNREACHABLE',
                  this.endpoint,
                  'the channel closed before the program reported its exit status',
                ),
          );
          return;
        }
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          exitCode,
        });
      });
      channel.end(program);
    });
  }

  #lose(code: ErrorCode, problem: string, cause?: unknown): void {
    this.#lostWhy ??= { code, problem, cause };
  }

  /** The error for why the connection ended (call once it has: a reason is always given first). */
  #lost(): BootstrapError {
    const why = this.#lostWhy ?? { code: 'UNREACHABLE', problem: 'connection lost' };
    this.#lostError ??= sshError(why.code, this.endpoint, why.problem, why.cause);
    return this.#lostError;
  }

  #setRef(on: boolean): void {
    const sock = this.#opened?.sock as { ref?: () => void; unref?: () => void } | undefined;
    if (on) sock?.ref?.();
    else sock?.unref?.();
  }

  #scheduleIdleClose(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed || this.#busy > 0 || this.#dependents > 0 || !this.#opened) return;
    this.#idleTimer = setTimeout(
      () => this.#closeUnheld(),
      this.#released ? 0 : this.#settings.idleTimeoutMs,
    );
    this.#idleTimer.unref();
  }
}

function isChannelRefusal(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('(SSH) Channel open failure');
}

function signalNumber(name: string | undefined): number {
  const signals = constants.signals as Record<string, number>;
  return (name && signals[name.startsWith('SIG') ? name : `SIG${name}`]) || 0;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The promise, or the signal's reason if it aborts first (the promise itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
