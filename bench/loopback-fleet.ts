/**
 * The benchmark's fleet: N "hosts" on loopback, each its own address (127.0.1.1, 127.0.1.2, … —
 * all of 127.0.0.0/8 is loopback), host key, bootstrap.ini and state dir, served by real OpenSSH
 * sshd processes (one per `hostsPerSshd` addresses, all logging in the dedicated /bin/sh user).
 * The sshds allow 1000 unauthenticated connections and 64 sessions per connection, so the
 * figures measure the clients rather than OpenSSH's defences against floods. The same hosts are
 * described for every client: our INI inventory, an ssh_config for OpenSSH (pdsh, parallel-ssh),
 * an Ansible inventory, and one known_hosts file that every client verifies against.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sandbox } from '../test/support/sandbox.ts';
import { ensureTestUser, generateClientKey, type SshdHost, startSshd } from '../test/support/sshd.ts';
import { createHostDirs, type HostDir, provisionTemplate } from './host-dirs.ts';
import { type CpuMeter, createCpuMeter } from './server-cpu.ts';

export interface BenchHost {
  name: string;
  address: string;
  port: number;
  /** Base64 of the host's public key (what the floor checks the server's key against). */
  hostKey: string;
  dir: HostDir;
}

export interface HostFiles {
  /** Our INI inventory (SPEC 3.1). */
  inventory: string;
  /** One host name a line (parallel-ssh `-h`, pdsh `-w ^FILE`). */
  hostList: string;
  /** Ansible's INI inventory. */
  ansibleInventory: string;
}

export interface BenchFleet {
  dir: string;
  user: string;
  hosts: BenchHost[];
  identityFile: string;
  knownHostsFile: string;
  /** OpenSSH client config naming every host (`ssh -F`). */
  sshConfigFile: string;
  /** `by-address/<address>` → that host's sandbox root. */
  byAddressDir: string;
  template: Sandbox;
  /** Inventory files for the first `count` hosts. */
  filesFor(count: number): HostFiles;
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

    const knownHostsFile = join(dir, 'known_hosts');
    writeFileSync(
      knownHostsFile,
      hosts.map((h) => `[${h.address}]:${h.port} ssh-ed25519 ${h.hostKey}\n`).join(''),
    );
    const sshConfigFile = join(dir, 'ssh_config');
    writeFileSync(
      sshConfigFile,
      [
        ...hosts.map((h) => `Host ${h.name}\n  HostName ${h.address}\n  Port ${h.port}\n`),
        'Host *',
        `  User ${user}`,
        `  IdentityFile ${key.identityFile}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${knownHostsFile}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  BatchMode yes',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );

    const files = new Map<number, HostFiles>();
    const filesFor = (n: number): HostFiles => {
      const known = files.get(n);
      if (known) return known;
      const subset = hosts.slice(0, n);
      const out: HostFiles = {
        inventory: join(dir, `inventory-${n}.ini`),
        hostList: join(dir, `hosts-${n}.txt`),
        ansibleInventory: join(dir, `ansible-${n}.ini`),
      };
      writeFileSync(
        out.inventory,
        [
          '[defaults]',
          'transport = ssh',
          `user = ${user}`,
          `identity = ${key.identityFile}`,
          `known_hosts = ${knownHostsFile}`,
          '',
          ...subset.map((h) =>
            [
              `[host:${h.name}]`,
              `address = ${h.address}`,
              `port = ${h.port}`,
              `config_path = ${h.dir.configPath}`,
              `state_dir = ${h.dir.stateDir}`,
              '',
            ].join('\n'),
          ),
        ].join('\n'),
      );
      writeFileSync(out.hostList, subset.map((h) => `${h.name}\n`).join(''));
      writeFileSync(
        out.ansibleInventory,
        [
          '[bench]',
          ...subset.map(
            (h) => `${h.name} ansible_host=${h.address} ansible_port=${h.port} ansible_user=${user}`,
          ),
          '',
          '[all:vars]',
          `ansible_ssh_common_args='-F ${sshConfigFile}'`,
          '',
        ].join('\n'),
      );
      files.set(n, out);
      return out;
    };

    return {
      dir,
      user,
      hosts,
      identityFile: key.identityFile,
      knownHostsFile,
      sshConfigFile,
      byAddressDir: join(dir, 'by-address'),
      template,
      filesFor,
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
