import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type BenchHost, writeClientFiles } from '../../bench/client-files.ts';

const host = (i: number, port: number): BenchHost => ({
  name: `h00${i}`,
  address: `127.0.1.${i}`,
  port,
  hostKey: `KEY${i}`,
  dir: { root: `/r/${i}`, configPath: `/r/${i}/etc/bootstrap.ini`, stateDir: `/r/${i}/state` },
});

describe('bench client files', () => {
  it('names the same hosts at the ports given (the delay proxy’s), for every client', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-files-'));
    try {
      const files = writeClientFiles(join(dir, 'rtt-50'), [host(1, 40001), host(2, 40002)], 'u', '/k/id');
      assert.equal(
        readFileSync(files.knownHostsFile, 'utf8'),
        '[127.0.1.1]:40001 ssh-ed25519 KEY1\n[127.0.1.2]:40002 ssh-ed25519 KEY2\n',
      );
      const sshConfig = readFileSync(files.sshConfigFile, 'utf8');
      assert.match(sshConfig, /Host h001\n {2}HostName 127\.0\.1\.1\n {2}Port 40001\n/);
      assert.match(sshConfig, new RegExp(`UserKnownHostsFile ${files.knownHostsFile}`));
      const one = files.filesFor(1);
      const inventory = readFileSync(one.inventory, 'utf8');
      assert.match(inventory, /\[host:h001\]\naddress = 127\.0\.1\.1\nport = 40001\n/);
      assert.doesNotMatch(inventory, /h002/);
      assert.equal(readFileSync(one.hostList, 'utf8'), 'h001\n');
      assert.match(
        readFileSync(one.ansibleInventory, 'utf8'),
        /h001 ansible_host=127\.0\.1\.1 ansible_port=40001 ansible_user=u/,
      );
      assert.equal(files.filesFor(1), one);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
