// A host behind an inventory bastion (`jump = bastion`) is reached with the key, known_hosts and
// accept-new the fleet lends (SPEC 3.2: in Lambda a private key and known_hosts from Secrets
// Manager; `--accept-new-host-key`), at the hop as at the target, as the CLI's `--jump` does; what
// the inventory or the ssh config names for the bastion itself wins; the hop's host key is always
// verified. Real sshd hosts.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseInventory } from '../../lib/config/inventory.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { createInventoryFleet, type InventoryFleetDeps } from '../../lib/orchestrate/inventory-fleet.ts';
import { generateClientKey, type SshdHost, type SshFleet, startSshFleet } from '../support/sshd.ts';

describe('jump hosts of an inventory fleet: the lent key and trust reach the hop', () => {
  let fleet: SshFleet;
  let bastion: SshdHost;
  let target: SshdHost;
  let dir: string;
  let privateKey: string;
  let wrongKey: string;
  const saved = { home: process.env['HOME'], agent: process.env['SSH_AUTH_SOCK'] };

  before(async () => {
    fleet = await startSshFleet(2);
    [bastion, target] = fleet.hosts as [SshdHost, SshdHost];
    dir = await mkdtemp(join(tmpdir(), 'jump-lent-'));
    // As in Lambda: an empty HOME (no ~/.ssh) and no agent.
    process.env['HOME'] = await mkdtemp(join(dir, 'home-'));
    delete process.env['SSH_AUTH_SOCK'];
    privateKey = await readFile(fleet.identityFile, 'utf8');
    wrongKey = await readFile((await generateClientKey(dir)).identityFile, 'utf8');
  });
  after(async () => {
    if (saved.home === undefined) delete process.env['HOME'];
    else process.env['HOME'] = saved.home;
    if (saved.agent !== undefined) process.env['SSH_AUTH_SOCK'] = saved.agent;
    await fleet.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** bastion, web-1 behind it, web-2 direct; `extra` lines go into [defaults], `hosts` into each section. */
  function inventory(
    extra: string[] = [],
    hosts: { bastion?: string[]; web?: string[]; jump?: string } = {},
  ): ReturnType<typeof parseInventory> {
    return parseInventory(
      [
        '[defaults]',
        `user = ${bastion.user}`,
        ...extra,
        '[host:bastion]',
        `address = ${bastion.host}`,
        `port = ${bastion.port}`,
        ...(hosts.bastion ?? []),
        '[host:web-1]',
        `address = ${target.host}`,
        `port = ${target.port}`,
        `jump = ${hosts.jump ?? 'bastion'}`,
        ...(hosts.web ?? []),
        '[host:web-2]',
        `address = ${target.host}`,
        `port = ${target.port}`,
        ...(hosts.web ?? []),
        '',
      ].join('\n'),
      join(dir, 'inventory.ini'),
    );
  }

  async function echo(inv: ReturnType<typeof parseInventory>, deps: InventoryFleetDeps, name: string) {
    const f = createInventoryFleet(inv, deps);
    try {
      return await f.target(name).transport.exec({ program: `echo $SSH_CONNECTION ${name}` });
    } finally {
      await f.close();
    }
  }

  async function refusal(inv: ReturnType<typeof parseInventory>, deps: InventoryFleetDeps, name: string) {
    const error = await echo(inv, deps, name).then(
      () => assert.fail(`${name}: expected a refusal`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError, String(error));
    return error;
  }

  async function knownHostsNames(file: string): Promise<string[]> {
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ')[0]!)
      .sort();
  }

  const names = () => [`[127.0.0.1]:${bastion.port}`, `[127.0.0.1]:${target.port}`].sort();

  it('Lambda: the key and known_hosts from deps reach a host behind an inventory bastion', async () => {
    const deps = { ssh: { privateKey, knownHosts: fleet.knownHostsFile } };
    const inv = inventory();
    for (const name of ['bastion', 'web-2']) assert.match((await echo(inv, deps, name)).stdout, /^127\./);
    const through = await echo(inv, deps, 'web-1');
    // The target saw the connection come from the tunnel, to its own port.
    assert.match(through.stdout, new RegExp(` ${target.port} web-1\\n$`));
  });

  it('Lambda: the same for a jump the inventory names as [USER@]HOST:PORT', async () => {
    const deps = { ssh: { privateKey, knownHosts: fleet.knownHostsFile } };
    const inv = inventory([], { jump: `${bastion.user}@${bastion.host}:${bastion.port}` });
    assert.match((await echo(inv, deps, 'web-1')).stdout, new RegExp(` ${target.port} web-1\\n$`));
  });

  it('the lent key is the hop’s only where the inventory and the ssh config name none for it', async () => {
    const right = [`identity = ${fleet.identityFile}`];
    // The lent key is used at the hop: a wrong one fails there.
    const lentWrong = { ssh: { privateKey: wrongKey, knownHosts: fleet.knownHostsFile } };
    const failed = await refusal(inventory([], { web: right }), lentWrong, 'web-1');
    assert.equal(failed.code, 'AUTH_FAILED');
    assert.equal(failed.details['jump'], `${bastion.user}@127.0.0.1:${bastion.port}`);
    // The bastion's own inventory identity wins over it.
    assert.match(
      (await echo(inventory([], { web: right, bastion: right }), lentWrong, 'web-1')).stdout,
      / web-1\n$/,
    );
    // So does the ssh config's IdentityFile for the bastion (the config names it by an alias).
    const config = join(dir, 'ssh_config');
    await writeFile(
      config,
      `Host the-bastion\n  HostName ${bastion.host}\n  IdentityFile ${fleet.identityFile}\n`,
    );
    const viaConfig = parseInventory(
      [
        '[defaults]',
        `user = ${bastion.user}`,
        `ssh_config = ${config}`,
        '[host:bastion]',
        'address = the-bastion',
        `port = ${bastion.port}`,
        '[host:web-1]',
        `address = ${target.host}`,
        `port = ${target.port}`,
        'jump = bastion',
        ...right,
        '',
      ].join('\n'),
      join(dir, 'inventory.ini'),
    );
    assert.match((await echo(viaConfig, lentWrong, 'web-1')).stdout, / web-1\n$/);
    // And its UserKnownHostsFile wins over the lent known_hosts: checked there, and refused.
    const wrongHosts = join(dir, 'known_hosts.config');
    await writeFile(wrongHosts, `[127.0.0.1]:${bastion.port} ${target.hostPublicKeys[0]}\n`);
    await writeFile(
      config,
      `Host the-bastion\n  HostName ${bastion.host}\n  UserKnownHostsFile ${wrongHosts}\n`,
    );
    const lentRight = { ssh: { privateKey, knownHosts: fleet.knownHostsFile, acceptNewHostKey: true } };
    const changed = await refusal(viaConfig, lentRight, 'web-1');
    assert.equal(changed.code, 'HOST_KEY_MISMATCH');
    assert.equal(changed.details['reason'], 'changed');
    assert.equal(changed.details['knownHosts'], wrongHosts);
  });

  it('Lambda: the hops of the ssh config’s ProxyJump get the lent key and known_hosts too', async () => {
    const config = join(dir, 'ssh_config.proxyjump');
    await writeFile(
      config,
      [
        'Host web-behind',
        `  HostName ${target.host}`,
        `  Port ${target.port}`,
        `  ProxyJump ${bastion.user}@${bastion.host}:${bastion.port}`,
        '',
      ].join('\n'),
    );
    const inv = parseInventory(
      [
        '[defaults]',
        `user = ${target.user}`,
        `ssh_config = ${config}`,
        '[host:web-1]',
        'address = web-behind',
        '',
      ].join('\n'),
      join(dir, 'inventory.ini'),
    );
    const through = await echo(inv, { ssh: { privateKey, knownHosts: fleet.knownHostsFile } }, 'web-1');
    assert.match(through.stdout, new RegExp(` ${target.port} web-1\\n$`));
    // The hop is verified against the lent known_hosts: one without its key refuses it.
    const targetOnly = join(dir, 'known_hosts.proxyjump');
    await writeFile(targetOnly, `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}\n`);
    const error = await refusal(inv, { ssh: { privateKey, knownHosts: targetOnly } }, 'web-1');
    assert.equal(error.code, 'HOST_KEY_MISMATCH');
    assert.equal(error.details['reason'], 'unknown');
    assert.equal(error.details['knownHosts'], targetOnly);
    // With accept-new lent, the hop's key is recorded there, and verified from then on.
    const deps = { ssh: { privateKey, knownHosts: targetOnly, acceptNewHostKey: true } };
    assert.match((await echo(inv, deps, 'web-1')).stdout, / web-1\n$/);
    assert.deepEqual(await knownHostsNames(targetOnly), names());
  });

  it('--accept-new-host-key records the hop’s key and the target’s, then verifies them', async () => {
    const knownHosts = join(dir, 'known_hosts.accept-new');
    await writeFile(knownHosts, '');
    const inv = inventory([`identity = ${fleet.identityFile}`, `known_hosts = ${knownHosts}`]);
    assert.match((await echo(inv, { ssh: { acceptNewHostKey: true } }, 'web-1')).stdout, / web-1\n$/);
    assert.deepEqual(await knownHostsNames(knownHosts), names());
    // What was recorded is the hosts' real keys: verified without accept-new from now on.
    assert.match((await echo(inv, {}, 'web-1')).stdout, / web-1\n$/);
  });

  it('Lambda with accept-new: both keys are recorded in the lent known_hosts', async () => {
    const knownHosts = join(dir, 'known_hosts.lambda');
    await writeFile(knownHosts, '');
    const inv = inventory();
    const deps = { ssh: { privateKey, knownHosts, acceptNewHostKey: true } };
    assert.match((await echo(inv, deps, 'web-1')).stdout, / web-1\n$/);
    assert.deepEqual(await knownHostsNames(knownHosts), names());
    assert.match((await echo(inv, { ssh: { privateKey, knownHosts } }, 'web-1')).stdout, / web-1\n$/);
  });

  it('a lent known_hosts with no key for the hop is refused as unknown without accept-new', async () => {
    const knownHosts = join(dir, 'known_hosts.target-only');
    await writeFile(knownHosts, `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}\n`);
    const error = await refusal(inventory(), { ssh: { privateKey, knownHosts } }, 'web-1');
    assert.equal(error.code, 'HOST_KEY_MISMATCH');
    assert.equal(error.details['reason'], 'unknown');
    assert.equal(error.details['jump'], `${bastion.user}@127.0.0.1:${bastion.port}`);
    assert.equal(
      await readFile(knownHosts, 'utf8'),
      `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}\n`,
    );
  });

  it('a wrong key for the hop is refused HOST_KEY_MISMATCH, accept-new or not, and nothing is recorded', async () => {
    const knownHosts = join(dir, 'known_hosts.wrong');
    // The bastion listed with the target's key.
    const text = [
      `[127.0.0.1]:${bastion.port} ${target.hostPublicKeys[0]}`,
      `[127.0.0.1]:${target.port} ${target.hostPublicKeys[0]}`,
      '',
    ].join('\n');
    await writeFile(knownHosts, text);
    const before = await target.acceptedLogins();
    for (const acceptNewHostKey of [false, true]) {
      // Lambda-style (lent known_hosts) and the inventory's own known_hosts with accept-new lent.
      for (const [inv, deps] of [
        [inventory(), { ssh: { privateKey, knownHosts, acceptNewHostKey } }],
        [
          inventory([`identity = ${fleet.identityFile}`, `known_hosts = ${knownHosts}`]),
          { ssh: { acceptNewHostKey } },
        ],
      ] as const) {
        const error = await refusal(inv, deps, 'web-1');
        assert.equal(error.code, 'HOST_KEY_MISMATCH', error.message);
        assert.equal(error.details['reason'], 'changed');
        assert.equal(error.details['jump'], `${bastion.user}@127.0.0.1:${bastion.port}`);
      }
    }
    assert.equal(await readFile(knownHosts, 'utf8'), text);
    assert.equal(await target.acceptedLogins(), before, 'nothing reached the target');
  });
});
