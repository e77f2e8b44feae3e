// The scheduled heartbeat (SPEC 7.2) over an inventory in which one host's section has a typo:
// every other host is still read, and that one is reported failed with its CONFIG_ERROR.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseInventory } from '../../lib/config/inventory.ts';
import { runFleetHeartbeat } from '../../lib/fleet/heartbeat.ts';
import { createInventoryFleet } from '../../lib/orchestrate/inventory-fleet.ts';
import { Teardown } from '../support/teardown.ts';

describe('a heartbeat over an inventory with one malformed host', () => {
  const teardown = new Teardown();
  after(() => teardown.run());

  it('reads every sound host and reports the malformed one failed, not unreachable', async () => {
    const hosts = ['web-1', 'web-2', 'web-3'].map((name) => ({ name, sandbox: teardown.sandbox() }));
    const section = ({ name, sandbox }: (typeof hosts)[number]) =>
      `[host:${name}]\ntransport = ${name === 'web-2' ? 'lcoal' : 'local'}\n` +
      `config_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\n`;
    const file = '/etc/cloudiq/inventory.ini';
    const fleet = createInventoryFleet(parseInventory(hosts.map(section).join('\n'), file));
    try {
      const report = await runFleetHeartbeat({ fleet });
      assert.deepEqual(
        report.hosts.map((host) => [host.server, host.status, host.error?.code]),
        [
          ['web-1', 'healthy', undefined],
          ['web-2', 'failed', 'CONFIG_ERROR'],
          ['web-3', 'healthy', undefined],
        ],
      );
      assert.deepEqual(report.hosts[1]?.error?.details, { file, section: 'host:web-2', key: 'transport' });
      assert.equal(report.summary.failed, 1);
      assert.equal(report.summary.unreachable, 0);
      assert.deepEqual(
        fleet.servers().map((server) => server.transport),
        ['local', null, 'local'],
      );
    } finally {
      await fleet.close();
    }
  });
});
