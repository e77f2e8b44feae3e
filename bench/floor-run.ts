/**
 * The floors: the least any ssh2 client can do per host — a new connection (TCP_NODELAY, our
 * algorithm lists, the host key checked against the one expected), key authentication, one
 * exec, close — fanned out over the same hosts at the same concurrency. The exec is `true` (what
 * SSH itself costs) or the tools' one-liner (the same work as our heartbeat, done by the least
 * client). Run in its own process, bundled like heartbeat-run.ts, so its CPU and RSS compare with
 * ours. Prints one JSON line.
 *
 * Argument: JSON `{ "hosts": [{ "host", "port", "hostKey" }], "user", "identityFile", "fanout",
 * "command"? }` where `hostKey` is the base64 of the host's public key; `command` is `true` when absent.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import pLimit from 'p-limit';
import ssh2 from 'ssh2';
import { sshAlgorithms } from '../lib/transport/ssh/algorithms.ts';

interface FloorConfig {
  hosts: Array<{ host: string; port: number; hostKey: string }>;
  user: string;
  identityFile: string;
  fanout: number;
  command?: string;
  /** A host counts as done only when its stdout holds this (the one-liner's end marker). */
  expect?: string;
}

export interface FloorRunResult {
  hosts: number;
  succeeded: number;
  failed: number;
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  processCpuMs: number;
  maxRssMB: number;
  /** Bytes of stdout and stderr received, every host together. */
  bytesIn: number;
  errors: string[];
}

let bytesIn = 0;

function once(config: FloorConfig, privateKey: Buffer, target: FloorConfig['hosts'][number]): Promise<void> {
  const expected = Buffer.from(target.hostKey, 'base64');
  return new Promise((resolve, reject) => {
    const sock = connect({ host: target.host, port: target.port });
    sock.setNoDelay(true);
    const client = new ssh2.Client();
    let ok = false;
    let stdout = '';
    client.on('error', reject);
    client.on('close', () => {
      if (!ok) reject(new Error(`${target.host}: closed before exit 0`));
      else if (config.expect !== undefined && !stdout.includes(config.expect))
        reject(new Error(`${target.host}: no ${config.expect} in its output`));
      else resolve();
    });
    client.on('ready', () => {
      client.exec(config.command ?? 'true', (error, stream) => {
        if (error) return reject(error);
        stream.on('exit', (code: number) => {
          ok = code === 0;
        });
        if (config.expect !== undefined)
          stream.on('data', (chunk: Buffer) => {
            stdout += chunk.toString('latin1');
          });
        stream.on('close', () => client.end());
        const count = (chunk: Buffer) => {
          bytesIn += chunk.length;
        };
        stream.on('data', count);
        stream.stderr.on('data', count);
      });
    });
    client.connect({
      sock,
      username: config.user,
      privateKey,
      // Straight to the key, as our transport does: no `none` probe first.
      authHandler: ['publickey'],
      algorithms: sshAlgorithms(['ssh-ed25519']),
      hostVerifier: (key: Buffer) => key.equals(expected),
      readyTimeout: 30_000,
    });
  });
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as FloorConfig;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const privateKey = readFileSync(config.identityFile);
  const limit = pLimit(config.fanout);
  const outcomes = await Promise.allSettled(
    config.hosts.map((h) => limit(() => once(config, privateKey, h))),
  );
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const usage = process.resourceUsage();
  const errors = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
  const out: FloorRunResult = {
    hosts: config.hosts.length,
    succeeded: outcomes.length - errors.length,
    failed: errors.length,
    wallMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    processCpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
    maxRssMB: usage.maxRSS / 1024,
    bytesIn,
    errors: errors.slice(0, 5),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

await main();
