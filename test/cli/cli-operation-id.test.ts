/**
 * SPEC 2.5: `--operation-id` makes a long operation idempotent from the CLI, with or without
 * `--detach`: the same command line run twice runs the hook once and both runs answer the one
 * journal of that id — on this machine, over SSH, over SSM and in a fleet run (`--inventory`).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fleetArgv, runCli } from '../support/cli.ts';
import { ownedBy, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, startSshd } from '../support/sshd.ts';
import {
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
  useSsmServerInEnv,
} from '../support/ssm-server.ts';
import { Teardown } from '../support/teardown.ts';

/** Makes the sandbox's deepfiler upgrade hook count its runs in out/deepfiler.upgrade.count. */
function countUpgrades(sb: Sandbox): () => number {
  writeFileSync(join(sb.root, 'behaviour', 'deepfiler.upgrade'), 'echo ran >> "$root/out/$name.count"\n', {
    mode: 0o666,
  });
  const file = join(sb.root, 'out', 'deepfiler.upgrade.count');
  return () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);
}

function journals(sb: Sandbox): string[] {
  const dir = join(sb.stateDir, 'operations');
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
}

describe('--operation-id from the CLI (SPEC 2.5: an id with a journal returns that journal)', () => {
  let sshd: SshdHost;
  let ssm: SsmTestServer;
  let dir: string;
  const sandboxes: Sandbox[] = [];
  const instanceId = testInstanceId(21);
  const teardown = new Teardown();

  before(async () => {
    dir = teardown.tempDir('cloudiq-opid-');
    await ensureTestUser();
    sshd = await startSshd();
    teardown.add(() => sshd.stop());
    ssm = await startSsmServer({ region: 'eu-west-1' });
    teardown.add(() => ssm.close());
    ssm.addInstance(instanceId);
    teardown.add(useSsmServerInEnv(ssm));
  });
  after(() => teardown.run());

  function sandbox(forSsh = false): Sandbox {
    const sb = teardown.sandbox(forSsh ? ownedBy(sshd.user) : {});
    sandboxes.push(sb);
    return sb;
  }

  /** Runs `product.upgrade deepfiler V --operation-id X` twice on one target; both answer journal X. */
  async function twice(target: (sb: Sandbox) => string[], sb: Sandbox, extra: string[] = []) {
    const runs = countUpgrades(sb);
    const id = `retry-${sandboxes.length}-${extra.join('')}`;
    const argv = [
      ...target(sb),
      'product.upgrade',
      'deepfiler',
      '3.2.1',
      '--operation-id',
      id,
      '--json',
      ...extra,
    ];
    const first = await runCli(argv);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const second = await runCli(argv);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    assert.equal(a.id, id, 'the first run answers the journal of the given id');
    assert.equal(b.id, id, 'the second run answers the same journal');
    if (extra.length === 0) assert.deepEqual(b, a, 'a finished journal is answered as it is');
    for (let status = b.status; status === 'running'; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = JSON.parse((await runCli([...target(sb), 'operation.get', id, '--json'])).stdout).status;
    }
    assert.equal(runs(), 1, 'the hook ran once');
    assert.deepEqual(journals(sb), [`${id}.json`], 'one journal, named by the given id');
  }

  const local = (sb: Sandbox) => ['--config', sb.configPath, '--state-dir', sb.stateDir];
  const overSsh = (sb: Sandbox) => [
    '--host',
    `${sshd.user}@${sshd.host}:${sshd.port}`,
    '--identity',
    sshd.identityFile,
    '--known-hosts',
    sshd.knownHostsFile,
    ...local(sb),
  ];
  const overSsm = (sb: Sandbox) => ['--ssm', instanceId, '--region', 'eu-west-1', ...local(sb)];

  it('on this machine, following to the end and with --detach', async () => {
    await twice(local, sandbox());
    await twice(local, sandbox(), ['--detach']);
  });

  it('over SSH (--host)', async () => {
    await twice(overSsh, sandbox(true));
  });

  it('over SSM (--ssm)', async () => {
    await twice(overSsm, sandbox());
  });

  it('in a fleet run (--inventory): the fleet result and every host answer the given id', async () => {
    const hosts = [sandbox(), sandbox()];
    const counters = hosts.map(countUpgrades);
    const inventory = join(dir, 'inventory.ini');
    writeFileSync(
      inventory,
      hosts
        .map((sb, i) =>
          [
            `[host:h${i}]`,
            'transport = local',
            `config_path = ${sb.configPath}`,
            `state_dir = ${sb.stateDir}`,
          ].join('\n'),
        )
        .join('\n\n'),
    );
    const argv = fleetArgv(
      inventory,
      'all',
      'product.upgrade',
      'deepfiler',
      '3.2.1',
      '--operation-id',
      'fleet-retry-1',
      '--no-health-gate',
    );
    const first = await runCli(argv);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const second = await runCli(argv);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    for (const run of [first, second]) {
      const result = JSON.parse(run.stdout);
      assert.equal(result.operationId, 'fleet-retry-1');
      for (const t of result.targets) assert.equal(t.result.id, 'fleet-retry-1', t.server);
    }
    assert.deepEqual(
      counters.map((count) => count()),
      [1, 1],
      'each host ran the hook once',
    );
    for (const sb of hosts) assert.deepEqual(journals(sb), ['fleet-retry-1.json']);
  });
});
