/**
 * The benchmark's fleet: N "hosts" on loopback, each its own address (127.0.1.1, 127.0.1.2, … —
 * all of 127.0.0.0/8 is loopback), host key, bootstrap.ini and state dir, served by real OpenSSH
 * sshd processes (one per `hostsPerSshd` addresses, all logging in the dedicated /bin/sh user).
 * The sshds allow 1000 unauthenticated connections and 64 sessions per connection, so the
 * figures measure the clients rather than OpenSSH's defences against floods. The same hosts are
 * described for every client: our INI inventory, an ssh_config for OpenSSH (pdsh, parallel-ssh),
 * an Ansible inventory, and one known_hosts file that every client verifies against.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sandbox } from '../test/support/sandbox.ts';
import { ensureTestUser, generateClientKey, type SshdHost, startSshd } from '../test/support/sshd.ts';
import { type BenchHost, type ClientFiles, writeClientFiles } from './client-files.ts';
import { createDelayProxy, type DelayProxy } from './delay-proxy.ts';
import { createHostDirs, provisionTemplate } from './host-dirs.ts';
import { type CpuMeter, createCpuMeter } from './server-cpu.ts';

export type { BenchHost, HostFiles } from './client-files.ts';

export interface BenchFleet extends ClientFiles {
  dir: string;
  user: string;
  hosts: BenchHost[];
  identityFile: string;
  /** `by-address/<address>` → that host's sandbox root. */
  byAddressDir: string;
  template: Sandbox;
  /** The sshd listener processes (what strace attaches to when forks are counted). */
  sshdPids: number[];
  /** The delay proxy every client goes through, when this is the fleet behind one. */
  proxy: DelayProxy | null;
  /** CPU the sshds and every process they started have used so far, in ms. */
  serverCpuMs(): number;
  /** How serverCpuMs counts (see server-cpu.ts). */
  cpuAccounting: CpuMeter['kind'];
  /** Waits until no sshd has a connection process left (so that serverCpuMs counts them all). */
  waitIdle(timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** The address of host `i` (0-based): 127.0.1.1 … 127.0.1.250, 127.0.2.1 … */
export function hostAddress(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

export function hostName(i: number): string {
  return `h${String(i + 1).padStart(3, '0')}`;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Starts `count` hosts; everything lives in one temp dir that `stop()` removes. */
export async function startBenchFleet(count: number, hostsPerSshd: number): Promise<BenchFleet> {
  const user = await ensureTestUser();
  const dir = await mkdtemp(join(tmpdir(), 'cloudiq-bench-'));
  await chmod(dir, 0o755);
  const sshds: SshdHost[] = [];
  const meter = createCpuMeter(`cloudiq-bench-${process.pid}`);
  let template: Sandbox | undefined;
  const stop = async () => {
    await Promise.all(sshds.map((s) => s.stop()));
    meter.close();
    template?.cleanup();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const key = await generateClientKey(dir);
    template = await provisionTemplate(dir);
    const addresses = Array.from({ length: count }, (_, i) => hostAddress(i));
    const dirs = await createHostDirs(count, dir, template, addresses);
    const groups = Math.ceil(count / hostsPerSshd);
    const started = await Promise.all(
      Array.from({ length: groups }, async (_, g) => {
        const mine = addresses.slice(g * hostsPerSshd, (g + 1) * hostsPerSshd);
        const sshd = await startSshd({
          clientKey: key,
          maxStartups: '1000',
          maxSessions: 64,
          extraConfig: ['LogLevel INFO', ...mine.map((a) => `ListenAddress ${a}`)],
        });
        sshds.push(sshd);
        return sshd;
      }),
    );
    const hosts: BenchHost[] = addresses.map((address, i) => ({
      name: hostName(i),
      address,
      port: started[Math.floor(i / hostsPerSshd)]!.port,
      hostKey: started[Math.floor(i / hostsPerSshd)]!.hostPublicKeys[0]!.split(' ')[1]!,
      dir: dirs[i]!,
    }));
    const pids = started.map((s) => Number(readFileSync(join(s.dir, 'sshd.pid'), 'utf8').trim()));
    for (const pid of pids) meter.add(pid);

    const clientFiles = writeClientFiles(join(dir, 'direct'), hosts, user, key.identityFile);

    return {
      dir,
      user,
      hosts,
      identityFile: key.identityFile,
      ...clientFiles,
      byAddressDir: join(dir, 'by-address'),
      template,
      sshdPids: pids,
      proxy: null,
      serverCpuMs: () => meter.readMs(),
      cpuAccounting: meter.kind,
      async waitIdle(timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          if (pids.every((pid) => childrenOf(pid).length === 0)) return true;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        return false;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The same fleet with a delay proxy of `rttMs` in front of every host: each host keeps its address
 * and gets the proxy's port, and every client file names those, so ours, the floors and the tools
 * all pay the same latency. Closing the proxy is the caller's (`proxy.close()`).
 */
export async function behindDelayProxy(fleet: BenchFleet, rttMs: number): Promise<BenchFleet> {
  const proxy = createDelayProxy(rttMs);
  try {
    const hosts: BenchHost[] = [];
    for (const h of fleet.hosts) {
      const port = await proxy.listen(h.address, { host: h.address, port: h.port });
      hosts.push({ ...h, port });
    }
    const files = writeClientFiles(join(fleet.dir, `rtt-${rttMs}`), hosts, fleet.user, fleet.identityFile);
    return {
      ...fleet,
      ...files,
      hosts,
      proxy,
      // Stopping the sshds stays with the fleet itself.
      stop: () => proxy.close(),
      async waitIdle(timeoutMs) {
        const idle = await fleet.waitIdle(timeoutMs);
        const deadline = Date.now() + 5_000;
        while (proxy.open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        return idle && proxy.open() === 0;
      },
    };
  } catch (error) {
    await proxy.close();
    throw error;
  }
}
