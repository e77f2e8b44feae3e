// A fleet run lets each host's SSH connection go once the run is done with that host, so that
// the hosts' sessions end along the run, not all together at its close (real sshd hosts); a
// long-lived process (`serve`) keeps them for the requests that follow.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseInventory } from '../../lib/config/inventory.ts';
import { runFleet } from '../../lib/fleet/index.ts';
import { createInventoryFleet } from '../../lib/orchestrate/inventory-fleet.ts';
import { SshPool } from '../../lib/transport/ssh/index.ts';
import { waitFor } from '../support/host-files.ts';
import { type SshFleet, startSshFleet } from '../support/sshd.ts';

describe('fleet runs and the connections they open', () => {
  let ssh: SshFleet;
  let inventoryText = '';

  before(async () => {
    ssh = await startSshFleet(3);
    inventoryText = [
      '[defaults]',
      'transport = ssh',
      `user = ${ssh.hosts[0]!.user}`,
      `identity = ${ssh.identityFile}`,
      `known_hosts = ${ssh.knownHostsFile}`,
      ...ssh.hosts.map((host, i) => `[host:web-${i + 1}]\naddress = 127.0.0.1\nport = ${host.port}`),
      '',
    ].join('\n');
  });
  after(async () => {
    await ssh.stop();
  });

  /** Runs `echo` on every host, one at a time; the connections open after each host finished. */
  async function runEcho(keepConnections: boolean) {
    const pool = new SshPool({ idleTimeoutMs: 60_000 });
    const fleet = createInventoryFleet(parseInventory(inventoryText, 'inventory.ini'), {
      ssh: { pool },
      keepConnections,
    });
    const openAfter: number[] = [];
    try {
      const result = await runFleet({
        operationId: 'op_release',
        command: 'heartbeat.get',
        targets: fleet.select('all'),
        maxConcurrency: 1,
        runTarget: async (server, signal) => {
          const answer = await fleet.target(server).transport.exec({ program: `echo ${server}`, signal });
          assert.equal(answer.stdout, `${server}\n`);
          return { status: 'succeeded', result: null };
        },
        release: (server) => fleet.release?.(server),
        onProgress: (event) => {
          if (event.type === 'finished') openAfter.push(pool.stats().open);
        },
      });
      assert.equal(result.summary.succeeded, 3);
      if (keepConnections) assert.equal(pool.stats().open, 3, 'serve keeps every connection');
      return { pool, openAfter };
    } finally {
      await fleet.close();
      await pool.close();
    }
  }

  it('closes each host connection once the run is done with that host', async () => {
    const { pool, openAfter } = await runEcho(false);
    // A released connection closes as soon as it is idle: at most the one just finished is open.
    assert.ok(
      openAfter.every((open) => open <= 1),
      `open connections after each host: ${openAfter}`,
    );
    await waitFor('the last connection to close', () => pool.stats().open === 0, 2000);
    assert.equal(pool.stats().connectionsOpened, 3);
  });

  it('keeps them all when the fleet keeps connections (serve)', async () => {
    const { openAfter } = await runEcho(true);
    assert.deepEqual(openAfter, [1, 2, 3]);
  });
});
