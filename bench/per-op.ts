/**
 * What one more operation costs on a connection that is already open: `product.get` on one host,
 * one after the other and 8 at a time (within the pool's channel limit), each timed from call to
 * answer. One after the other, they run as frames in the connection's host session (one shell
 * that keeps the host code loaded); 8 at a time, one runs in the session and the rest by exec.
 * `product.get, exec` is the same with host sessions off: one exec per program, the host code
 * cached on the host. Beside them, an empty program, which is what SSH itself costs per exec
 * (a channel, sshd's session process, `sh` starting).
 * And the same for ssh2 alone running `true` (no program on stdin, no shell of ours): what any
 * client pays per exec on this server.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import pLimit from 'p-limit';
import ssh2 from 'ssh2';
import { runCommand } from '../lib/operations/index.ts';
import type { HostTarget } from '../lib/operations/types.ts';
import { sshAlgorithms } from '../lib/transport/ssh/algorithms.ts';
import { createSshTransport, SshPool } from '../lib/transport/ssh/index.ts';
import type { BenchFleet, BenchHost } from './loopback-fleet.ts';
import { median, percentile } from './stats.ts';

export interface OpSeries {
  what: 'product.get' | 'product.get, exec' | 'empty program' | 'ssh2 exec true';
  concurrency: number;
  ops: number;
  medianMs: number;
  p95Ms: number;
  /** Wall time of the whole series over the number of operations. */
  throughputMsPerOp: number;
  /** Behind the delay proxy: round trips it counted, per operation. */
  roundTripsPerOp?: number;
}

async function series(
  what: OpSeries['what'],
  op: () => Promise<unknown>,
  ops: number,
  concurrency: number,
  roundTrips?: () => number,
): Promise<OpSeries> {
  const times: number[] = [];
  const trips0 = roundTrips?.();
  const limit = pLimit(concurrency);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ops }, () =>
      limit(async () => {
        const t = performance.now();
        await op();
        times.push(performance.now() - t);
      }),
    ),
  );
  const wall = performance.now() - started;
  const trips = roundTrips && trips0 !== undefined ? { roundTripsPerOp: (roundTrips() - trips0) / ops } : {};
  return {
    what,
    concurrency,
    ops,
    medianMs: median(times),
    p95Ms: percentile(times, 95),
    throughputMsPerOp: wall / ops,
    ...trips,
  };
}

/** An authenticated bare ssh2 client (TCP_NODELAY, our algorithms) and an exec of `true` on it. */
async function bareClient(fleet: BenchFleet, host: BenchHost) {
  const client = new ssh2.Client();
  const expected = Buffer.from(host.hostKey, 'base64');
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host: host.address, port: host.port });
    sock.setNoDelay(true);
    client.once('ready', resolve).once('error', reject);
    client.connect({
      sock,
      username: fleet.user,
      privateKey: readFileSync(fleet.identityFile),
      authHandler: ['publickey'],
      algorithms: sshAlgorithms(['ssh-ed25519']),
      hostVerifier: (key: Buffer) => key.equals(expected),
    });
  });
  const exec = () =>
    new Promise<void>((resolve, reject) => {
      client.exec('true', (error, stream) => {
        if (error) return reject(error);
        stream.on('close', () => resolve());
        stream.resume();
        stream.stderr.resume();
      });
    });
  return { exec, close: () => client.end() };
}

/**
 * Runs the series on the fleet's first host over one connection, at each concurrency (one after
 * the other, and 8 at a time, by default). Behind the delay proxy each series also says how many
 * round trips an operation took.
 */
export async function measurePerOperation(
  fleet: BenchFleet,
  ops: number,
  concurrencies: readonly number[] = [1, 8],
): Promise<OpSeries[]> {
  const proxy = fleet.proxy;
  const roundTrips = proxy ? () => proxy.counters().roundTrips : undefined;
  const first = fleet.hosts[0]!;
  const pool = new SshPool();
  const execPool = new SshPool();
  const connectTo = (hostSessions: boolean) =>
    createSshTransport({
      host: first.address,
      port: first.port,
      user: fleet.user,
      identity: fleet.identityFile,
      knownHosts: fleet.knownHostsFile,
      target: first.name,
      pool: hostSessions ? pool : execPool,
      hostSessions,
    });
  const transport = connectTo(true);
  const host: HostTarget = {
    name: first.name,
    transport,
    configPath: first.dir.configPath,
    stateDir: first.dir.stateDir,
  };
  const execHost: HostTarget = { ...host, transport: connectTo(false) };
  const get = () => runCommand(host, { command: 'product.get', product: 'haproxy' });
  const getByExec = () => runCommand(execHost, { command: 'product.get', product: 'haproxy' });
  const empty = () => transport.exec({ program: '' });
  const bare = await bareClient(fleet, first);
  try {
    // Opens the connection and warms the code paths; not measured.
    for (let i = 0; i < 5; i += 1) await Promise.all([get(), getByExec(), empty(), bare.exec()]);
    const out: OpSeries[] = [];
    for (const concurrency of concurrencies) {
      out.push(await series('product.get', get, ops, concurrency, roundTrips));
      out.push(await series('product.get, exec', getByExec, ops, concurrency, roundTrips));
      out.push(await series('empty program', empty, ops, concurrency, roundTrips));
      out.push(await series('ssh2 exec true', bare.exec, ops, concurrency, roundTrips));
    }
    if (pool.stats().connectionsOpened !== 1)
      throw new Error(`per-operation series used ${pool.stats().connectionsOpened} connections, not 1`);
    if (pool.stats().sessionsStarted !== 1)
      throw new Error(`per-operation series started ${pool.stats().sessionsStarted} host sessions, not 1`);
    return out;
  } finally {
    bare.close();
    await transport.close();
    await pool.close();
    await execPool.close();
  }
}
