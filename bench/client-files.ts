/**
 * The same hosts described for every client: our INI inventory, an ssh_config for OpenSSH (pdsh,
 * parallel-ssh), an Ansible inventory, and one known_hosts file that every client verifies
 * against. Written for the fleet as it is, and again for the fleet behind the delay proxy (same
 * addresses, the proxy's ports), so every client reaches the hosts the same way.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostDir } from './host-dirs.ts';

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

export interface ClientFiles {
  knownHostsFile: string;
  /** OpenSSH client config naming every host (`ssh -F`). */
  sshConfigFile: string;
  /** Inventory files for the first `count` hosts. */
  filesFor(count: number): HostFiles;
}

/** Writes known_hosts and ssh_config for `hosts` into `dir`; inventories as they are asked for. */
export function writeClientFiles(
  dir: string,
  hosts: readonly BenchHost[],
  user: string,
  identityFile: string,
): ClientFiles {
  mkdirSync(dir, { recursive: true });
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
      `  IdentityFile ${identityFile}`,
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
        `identity = ${identityFile}`,
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
  return { knownHostsFile, sshConfigFile, filesFor };
}
