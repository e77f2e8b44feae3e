/**
 * A loopback TCP proxy that makes a link as slow as a network: every byte waits half the RTT in
 * each direction, per connection, in order; the server sees a new connection 1.5 RTT after the
 * client opened it (SYN, SYN-ACK, ACK), and the client's first bytes wait for that. Plain
 * `node:net`, no native code: what netem would do, without needing root in a network namespace.
 *
 * It also counts the round trips each connection needed, on its critical path: a request is the
 * first thing the client sends after it received the previous counted reply; a reply is the first
 * thing the server sends after that request reached it. Data that merely crosses (pipelining,
 * window updates in flight) counts nothing, so a protocol that pipelines shows fewer round trips.
 * The TCP handshake is one more per connection.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface ProxyCounters {
  connections: number;
  /** Round trips counted on every connection's critical path, TCP handshakes included. */
  roundTrips: number;
  /** Bytes client → server and server → client. */
  bytesUp: number;
  bytesDown: number;
}

export interface DelayProxy {
  readonly rttMs: number;
  /** Listens on `host` (any free port) and forwards to `target`; resolves to the port. */
  listen(host: string, target: { host: string; port: number }): Promise<number>;
  /** Totals over every connection so far. */
  counters(): ProxyCounters;
  /** Connections still open. */
  open(): number;
  close(): Promise<void>;
}

type Clock = () => number;

/** One direction of one connection: chunks leave in arrival order, each `delayMs` after it came. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; chunk: Buffer | null }> = [];
  private timer: NodeJS.Timeout | null = null;
  private ready = false;

  constructor(
    private readonly to: Socket,
    private readonly delayMs: number,
    private readonly now: Clock,
  ) {}

  /** Queues a chunk (or the end, `null`); returns when it will reach the other side. */
  push(chunk: Buffer | null, notBefore = 0): number {
    const last = this.queue.at(-1)?.due ?? 0;
    // Never before what is already queued: a later chunk must not overtake an earlier one.
    const due = Math.max(this.now() + this.delayMs, notBefore, last);
    this.queue.push({ due, chunk });
    this.schedule();
    return due;
  }

  /** The destination is connected: queued chunks may go. */
  start(): void {
    this.ready = true;
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  private schedule(): void {
    if (this.timer || !this.ready || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.drain(), Math.max(0, this.queue[0]!.due - this.now()));
  }

  private drain(): void {
    this.timer = null;
    const now = this.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { chunk } = this.queue.shift()!;
      if (this.to.destroyed) continue;
      if (chunk === null) this.to.end();
      else this.to.write(chunk);
    }
    this.schedule();
  }
}

/** Starts a proxy adding `rttMs` of round-trip time (half each way) to every connection. */
export function createDelayProxy(rttMs: number, now: Clock = () => performance.now()): DelayProxy {
  const oneWay = rttMs / 2;
  const totals: ProxyCounters = { connections: 0, roundTrips: 0, bytesUp: 0, bytesDown: 0 };
  const servers: Server[] = [];
  const sockets = new Set<Socket>();

  const handle = (client: Socket, target: { host: string; port: number }) => {
    totals.connections += 1;
    totals.roundTrips += 1; // the TCP handshake
    const acceptedAt = now();
    const openAt = acceptedAt + 1.5 * rttMs;
    // Half-open both ways: an end travels, delayed, behind the data before it.
    const upstream = tcpConnect({ host: target.host, port: target.port, allowHalfOpen: true });
    // Delays are ours to add: no Nagle on top of them.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const up = new DelayedPipe(upstream, oneWay, now);
    const down = new DelayedPipe(client, oneWay, now);
    // Critical-path round trips: see the file comment.
    let lastReplyArrives = acceptedAt;
    let request: { reachesServer: number } | null = null;
    const openTimer = setTimeout(() => {
      if (upstream.connecting) upstream.once('connect', () => up.start());
      else up.start();
    }, 1.5 * rttMs);
    down.start();

    client.on('data', (chunk: Buffer) => {
      totals.bytesUp += chunk.length;
      const sentAt = now();
      const reaches = up.push(chunk, openAt);
      if (request === null && sentAt >= lastReplyArrives) request = { reachesServer: reaches };
    });
    upstream.on('data', (chunk: Buffer) => {
      totals.bytesDown += chunk.length;
      const sentAt = now();
      const arrives = down.push(chunk);
      if (request !== null && sentAt >= request.reachesServer) {
        totals.roundTrips += 1;
        lastReplyArrives = arrives;
        request = null;
      }
    });
    client.on('end', () => up.push(null, openAt));
    upstream.on('end', () => down.push(null));
    const finish = () => {
      clearTimeout(openTimer);
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // A half-closed pair ends when both ends have closed; an error ends both at once.
    let closed = 0;
    const onClose = () => {
      closed += 1;
      if (closed === 2) finish();
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
    client.on('error', finish);
    upstream.on('error', finish);
  };

  return {
    rttMs,
    listen(host, target) {
      const server = createServer({ allowHalfOpen: true }, (client) => handle(client, target));
      servers.push(server);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : 0);
        });
      });
    },
    counters: () => ({ ...totals }),
    open: () => sockets.size / 2,
    async close() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
