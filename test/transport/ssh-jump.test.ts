import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadInventory, selectHosts } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { sshEndpointForHost } from '../../lib/orchestrate/inventory-endpoint.ts';
import type { SshEndpoint } from '../../lib/transport/ssh/index.ts';
import { createSshTransport, SshPool } from '../../lib/transport/ssh/index.ts';
import type { SshFleet } from '../support/sshd.ts';
import { startSshd, startSshFleet } from '../support/sshd.ts';

describe('jump hosts: through one real sshd to another', () => {
  let fleet: SshFleet;
  let dir: string;
  let bastion: SshEndpoint;
  let target: Omit<SshEndpoint, 'jump'>;

  before(async () => {
    fleet = await startSshFleet(2);
    dir = await mkdtemp(join(tmpdir(), 'ssh-jump-'));
    const [first, second] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    bastion = {
      host: first.host,
      port: first.port,
      user: first.user,
      identity: fleet.identityFile,
      knownHosts: fleet.knownHostsFile,
    };
    target = {
      host: second.host,
      port: second.port,
      user: second.user,
      identity: fleet.identityFile,
      knownHosts: fleet.knownHostsFile,
    };
  });
  after(async () => {
    await fleet.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs programs on the target through the bastion, sharing both connections', async () => {
    const pool = new SshPool();
    const viaJump = createSshTransport({ ...target, jump: bastion, pool, target: 'behind' });
    const direct = createSshTransport({ ...bastion, pool, target: 'bastion' });
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) => viaJump.exec({ program: `echo $SSH_CONNECTION ${i}` })),
      );
      for (const [i, result] of results.entries()) {
        assert.match(
          result.stdout,
          new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${target.port} ${i}\\n$`),
        );
      }
      // Nothing ran on the bastion, yet it logged a login: the tunnel went through it.
      assert.equal(await fleet.hosts[0]!.acceptedLogins(), 1);
      assert.equal((await direct.exec({ program: 'echo bastion' })).stdout, 'bastion\n');
      // one connection to the bastion (used for the tunnel and for its own exec), one to the target
      assert.equal(pool.stats().connectionsOpened, 2);
      assert.equal(await fleet.hosts[0]!.acceptedLogins(), 1);
      assert.equal(await fleet.hosts[1]!.acceptedLogins(), 1);
    } finally {
      await pool.close();
    }
  });

  it('follows an inventory whose host names its bastion with jump =', async () => {
    const [first, second] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    const file = join(dir, 'inventory.ini');
    await writeFile(
      file,
      [
        '[defaults]',
        `user = ${first.user}`,
        `identity = ${fleet.identityFile}`,
        `known_hosts = ${fleet.knownHostsFile}`,
        '[host:bastion]',
        'address = 127.0.0.1',
        `port = ${first.port}`,
        '[host:web-1]',
        'address = 127.0.0.1',
        `port = ${second.port}`,
        'jump = bastion',
        'groups = edge',
        '',
      ].join('\n'),
    );
    const bastionLogins = await first.acceptedLogins();
    const inventory = await loadInventory(file);
    const [host] = selectHosts(inventory, 'group:edge');
    const ssh = createSshTransport({ ...sshEndpointForHost(inventory, host!), target: host!.name });
    try {
      const { stdout } = await ssh.exec({ program: 'echo $SSH_CONNECTION' });
      assert.match(stdout, new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${second.port}\\n$`));
      assert.equal(await first.acceptedLogins(), bastionLogins + 1);
    } finally {
      await ssh.close();
    }
  });

  it("verifies the bastion's key: a changed one stops the run before the target is reached", async () => {
    const knownHosts = join(dir, 'bastion-changed');
    const [first, second] = fleet.hosts as [(typeof fleet.hosts)[0], (typeof fleet.hosts)[0]];
    await writeFile(
      knownHosts,
      `[127.0.0.1]:${first.port} ${second.hostPublicKeys[0]}\n[127.0.0.1]:${second.port} ${second.hostPublicKeys[0]}\n`,
    );
    const loginsBefore = await second.acceptedLogins();
    const ssh = createSshTransport({ ...target, jump: { ...bastion, knownHosts } });
    try {
      await assert.rejects(ssh.exec({ program: 'true' }), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'HOST_KEY_MISMATCH');
        assert.equal(error.details['reason'], 'changed');
        assert.equal(error.details['port'], first.port);
        return true;
      });
      assert.equal(await second.acceptedLogins(), loginsBefore);
    } finally {
      await ssh.close();
    }
  });

  it('reports a bastion that refuses to forward as UNREACHABLE, naming the bastion', async () => {
    const closed = await startSshd({ extraConfig: ['AllowTcpForwarding no'] });
    const knownHosts = join(dir, 'closed-bastion');
    await writeFile(knownHosts, `[127.0.0.1]:${closed.port} ${closed.hostPublicKeys[0]}\n`);
    const ssh = createSshTransport({
      ...target,
      jump: {
        host: closed.host,
        port: closed.port,
        user: closed.user,
        identity: closed.identityFile,
        knownHosts,
      },
    });
    try {
      await assert.rejects(ssh.exec({ program: 'true' }), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'UNREACHABLE');
        assert.equal(error.details['jump'], `${closed.user}@127.0.0.1:${closed.port}`);
        return true;
      });
    } finally {
      await ssh.close();
      await closed.stop();
    }
  });

  it("verifies the target's key end to end through the tunnel", async () => {
    const knownHosts = join(dir, 'target-unknown');
    const [first] = fleet.hosts as [(typeof fleet.hosts)[0]];
    await writeFile(knownHosts, `[127.0.0.1]:${first.port} ${first.hostPublicKeys[0]}\n`);
    const ssh = createSshTransport({ ...target, knownHosts, jump: { ...bastion, knownHosts } });
    try {
      await assert.rejects(ssh.exec({ program: 'true' }), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'HOST_KEY_MISMATCH');
        assert.equal(error.details['reason'], 'unknown');
        assert.equal(error.details['port'], target.port);
        return true;
      });
    } finally {
      await ssh.close();
    }
  });
});
