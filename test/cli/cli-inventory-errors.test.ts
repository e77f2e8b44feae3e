/**
 * SPEC 3.1's example inventory, as written, from the CLI and `serve`: web-2's elided pin (and its
 * bastion, which the file lacks) are web-2's problem alone. web-1 is a real sshd on loopback,
 * worker-7 an SSM instance id the loopback SSM endpoint does not know, web-2 is never reached.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseCli } from '../../lib/cli/args.ts';
import { startServe } from '../../lib/cli/serve.ts';
import { fleetArgv, runCli } from '../support/cli.ts';
import { ownedBy } from '../support/sandbox.ts';
import { SPEC_INVENTORY } from '../support/spec-inventory.ts';
import { ensureTestUser, type SshdHost, startSshd } from '../support/sshd.ts';
import { startSsmServer, useSsmServerInEnv } from '../support/ssm-server.ts';
import { Teardown } from '../support/teardown.ts';

interface Target {
  server: string;
  status: string;
  error?: { code: string; message: string; details: Record<string, unknown> };
}

const WEB_2_ERROR = /\[host:web-2\] host_key: expected SHA256:… fingerprint\(s\), got "SHA256:3mrfx…"$/;

describe("SPEC 3.1's example inventory, one host's section malformed", () => {
  const teardown = new Teardown();
  let dir = '';
  let inventory = '';
  let sshd: SshdHost;

  before(async () => {
    dir = teardown.tempDir('cloudiq-inventory-errors-');
    const user = await ensureTestUser();
    sshd = await startSshd();
    teardown.add(() => sshd.stop());
    const ssm = await startSsmServer({ region: 'eu-west-1' });
    teardown.add(() => ssm.close());
    teardown.add(useSsmServerInEnv(ssm));
    const web1 = teardown.sandbox(ownedBy(user));
    inventory = join(dir, 'inventory.ini');
    // SPEC 3.1's text, web-1 pointed at the loopback sshd (its address, port, login and files).
    const web1Lines = [
      `address = ${sshd.host}`,
      `port = ${sshd.port}`,
      `user = ${sshd.user}`,
      `identity = ${sshd.identityFile}`,
      `known_hosts = ${sshd.knownHostsFile}`,
      `config_path = ${web1.configPath}`,
      `state_dir = ${web1.stateDir}`,
    ];
    const text = SPEC_INVENTORY.replace('address = 10.0.1.11\n', `${web1Lines.join('\n')}\n`);
    assert.notEqual(text, SPEC_INVENTORY);
    writeFileSync(inventory, text);
  });
  after(() => teardown.run());

  it('runs the hosts a selector picks that are sound', async () => {
    const run = await runCli(fleetArgv(inventory, 'group:edge', 'heartbeat.get'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(
      result.targets.map((t: Target) => [t.server, t.status]),
      [['web-1', 'succeeded']],
    );
  });

  it('fails the malformed host, unreached, among the others', async () => {
    const run = await runCli(fleetArgv(inventory, 'all', 'heartbeat.get'));
    assert.equal(run.code, 4, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    assert.deepEqual(result.summary, { total: 3, succeeded: 1, failed: 1, unreachable: 1, skipped: 0 });
    const [web1, web2, worker7] = result.targets as Target[];
    assert.deepEqual([web1?.server, web1?.status], ['web-1', 'succeeded']);
    assert.equal(web2?.server, 'web-2');
    assert.equal(web2?.status, 'failed');
    assert.equal(web2?.error?.code, 'CONFIG_ERROR');
    assert.match(web2?.error?.message ?? '', WEB_2_ERROR);
    assert.deepEqual(web2?.error?.details, { file: inventory, section: 'host:web-2', key: 'host_key' });
    // The loopback SSM endpoint knows no such instance: InvalidInstanceId, as AWS answers it.
    assert.deepEqual([worker7?.server, worker7?.status], ['worker-7', 'unreachable']);
  });

  it('answers a run of the malformed host alone, or a dry run through it, with its CONFIG_ERROR', async () => {
    for (const argv of [
      fleetArgv(inventory, 'web-2', 'heartbeat.get'),
      fleetArgv(inventory, 'web-2', 'product.set', 'haproxy', 'maxconn=1', '--dry-run'),
      fleetArgv(inventory, 'web-1,web-2', 'product.set', 'haproxy', 'maxconn=1', '--dry-run'),
    ]) {
      const run = await runCli(argv);
      assert.equal(run.code, 6, `${argv.join(' ')}: ${run.stdout}${run.stderr}`);
      const { error } = JSON.parse(run.stdout);
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.match(error.message, WEB_2_ERROR);
      assert.deepEqual(error.details, { file: inventory, section: 'host:web-2', key: 'host_key' });
    }
  });

  it('lists every host on GET /servers, and answers the malformed one with 424', async () => {
    const server = await startServe(parseCli(['serve', '--port', '0', '--inventory', inventory]).options, {
      stdout: () => {},
      stderr: () => {},
      env: process.env,
      stderrIsTty: false,
    });
    try {
      const servers = await fetch(`${server.url}/servers`);
      assert.equal(servers.status, 200);
      assert.deepEqual(await servers.json(), {
        servers: [
          { name: 'web-1', groups: ['edge', 'eu'], transport: 'ssh' },
          { name: 'web-2', groups: [], transport: 'ssh' },
          { name: 'worker-7', groups: ['workers'], transport: 'ssm' },
        ],
      });
      const beat = await fetch(`${server.url}/servers/web-2/heartbeat`);
      assert.equal(beat.status, 424);
      const body = (await beat.json()) as { code: string; details: Record<string, unknown> };
      assert.equal(body.code, 'CONFIG_ERROR');
      assert.equal(body.details['key'], 'host_key');
      assert.equal((await fetch(`${server.url}/servers/web-1/heartbeat`)).status, 200);
      // A fleet upgrade of web-2 alone is refused as the CLI refuses it: nothing is started or kept.
      const upgrade = (select: string, operationId: string) =>
        fetch(`${server.url}/fleet/upgrade`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ select, product: 'haproxy', version: '3.1', operationId }),
        });
      const alone = await upgrade('web-2', 'lone-broken');
      assert.equal(alone.status, 424);
      const refused = (await alone.json()) as { code: string; details: Record<string, unknown> };
      assert.deepEqual(
        [refused.code, refused.details['section'], refused.details['key']],
        ['CONFIG_ERROR', 'host:web-2', 'host_key'],
      );
      assert.equal((await fetch(`${server.url}/fleet/operations/lone-broken`)).status, 400);
      // Beside another host it is one failed target of the run, which starts.
      assert.equal((await upgrade('web-2,web-1', 'with-web-1')).status, 202);
    } finally {
      await server.close();
    }
  });

  it("still refuses the whole file for what is not one host's", async () => {
    const broken = join(dir, 'broken.ini');
    for (const [text, section, key] of [
      ['[host:web 1]\ntransport = local\n', 'host:web 1', null],
      ['[host:a]\ntransport = local\ngroups = Edge\n', 'host:a', 'groups'],
      ['[defaults]\nport = 0\n[host:a]\ntransport = local\n', 'defaults', 'port'],
      ['[host:a]\ntransport = local\n[hosts:b]\n', 'hosts:b', null],
      ['[host:a]\ntransport = local\n[host:a]\n', 'host:a', null],
    ] as const) {
      writeFileSync(broken, text);
      const run = await runCli(fleetArgv(broken, 'all', 'heartbeat.get'));
      assert.equal(run.code, 6, text + run.stdout + run.stderr);
      const { error } = JSON.parse(run.stdout);
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.deepEqual(error.details, { file: broken, section, key }, text);
    }
  });
});
