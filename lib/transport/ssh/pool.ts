/**
 * The connection cache: one connection per endpoint, shared by every transport and operation
 * that names the same host the same way (reads and writes of one operation, several operations,
 * the hosts behind one bastion). Connections close when idle; an idle pool never keeps the
 * process alive.
 */
import { openTcp } from './connect.ts';
import type { ConnectionSettings } from './connection.ts';
import { SshConnection } from './connection.ts';
import type { ResolvedEndpoint } from './endpoint.ts';
import { openThroughHop } from './jump.ts';

export type SshPoolOptions = Partial<ConnectionSettings>;

export const DEFAULT_CONNECTION_SETTINGS: ConnectionSettings = {
  connectTimeoutMs: 15_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  connectAttempts: 5,
  idleTimeoutMs: 30_000,
  // OpenSSH's default MaxSessions is 10; stay under it, and learn a lower one from refusals.
  maxSessions: 8,
};

export interface SshPoolStats {
  /** Connections opened since the pool was made (jump hops included). */
  connectionsOpened: number;
  /** Connections open (or opening) now. */
  open: number;
  /** Channel opens the servers refused and that were retried on the same connection. */
  channelRetries: number;
  /** Host sessions started (one long-lived shell per connection that runs further programs). */
  sessionsStarted: number;
}

export class SshPool {
  readonly #settings: ConnectionSettings;
  readonly #connections = new Map<string, SshConnection>();
  #opened = 0;
  #channelRetries = 0;
  #sessionsStarted = 0;

  constructor(options: SshPoolOptions = {}) {
    const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    this.#settings = { ...DEFAULT_CONNECTION_SETTINGS, ...defined };
  }

  /**
   * The open connection for this endpoint, or a new one (connecting in the background);
   * `firstCommand`, the command its programs run, lets a new connection start it with the login.
   */
  connectionFor(endpoint: ResolvedEndpoint, firstCommand?: string): SshConnection {
    const existing = this.#connections.get(endpoint.id);
    if (existing && !existing.closed) return existing;
    const hop = endpoint.jump ? this.connectionFor(endpoint.jump) : null;
    this.#opened += 1;
    const connection = new SshConnection(
      endpoint,
      this.#settings,
      {
        openSocket: hop ? openThroughHop(hop, endpoint) : openTcp(endpoint),
        hop,
        onClosed: (closed) => {
          if (this.#connections.get(endpoint.id) === closed) this.#connections.delete(endpoint.id);
        },
        onChannelRetry: () => {
          this.#channelRetries += 1;
        },
        onSessionStart: () => {
          this.#sessionsStarted += 1;
        },
      },
      firstCommand,
    );
    this.#connections.set(endpoint.id, connection);
    return connection;
  }

  /** The caller is done with this endpoint: its connection closes once idle (see SshConnection). */
  closeWhenIdle(endpoint: ResolvedEndpoint): void {
    this.#connections.get(endpoint.id)?.closeWhenIdle();
  }

  stats(): SshPoolStats {
    return {
      connectionsOpened: this.#opened,
      open: this.#connections.size,
      channelRetries: this.#channelRetries,
      sessionsStarted: this.#sessionsStarted,
    };
  }

  /** Closes every connection; running execs reject. */
  async close(): Promise<void> {
    const all = [...this.#connections.values()];
    this.#connections.clear();
    await Promise.all(all.map((connection) => connection.close()));
  }
}
