// SPEC 3.2 (v2): a `commands` parameter stays under 16 KiB unless the values it must carry are
// larger. Programs too large to send plain travel gzipped, run in a real shell by the loopback SSM
// server, and answer what the local transport answers, byte for byte in their JSON; a host without
// gzip is told apart before anything runs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import {
  type CommandRequest,
  type HostTarget,
  runCommand,
  runHeartbeat,
} from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { COMMANDS_LIMIT, createSsmTransport } from '../../lib/transport/ssm/index.ts';
import { createBusyboxDir, snapshotTree } from '../support/host-files.ts';
import { bootstrapIni, createSandbox } from '../support/sandbox.ts';
import { testInstanceId } from '../support/ssm-server.ts';
import {
  localAndSsm,
  type Side,
  type SidesOptions,
  type SsmPeers,
  useSsmPeers,
} from '../support/ssm-suite.ts';

const PROVISION_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z5';
const UPGRADE_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z6';

/** What necessarily differs between two hosts (times, PIDs, uptime, load, the sandbox's path) left out. */
function normalise(side: Side, value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => {
    if (key === 'pid' && typeof v === 'number') return '<pid>';
    if (key === 'uptimeSeconds' || key === 'load') return `<${key}>`;
    return v;
  })
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/op_[0-9A-HJKMNP-TV-Z]{26}/g, (id) => (id === PROVISION_ID || id === UPGRADE_ID ? id : '<op>'))
    .replaceAll(side.sandbox.root, '<root>');
}

const commandsBytes = (body: { Parameters?: Record<string, string[] | undefined> }) =>
  Buffer.byteLength((body.Parameters?.['commands'] ?? []).join('\n'));

/** SPEC 3.2 (v2): with the host's cached code (2.2 `lib/`) a read is a few hundred bytes. */
const CACHED_READ_LIMIT = 512;

describe('SSM commands under 16 KiB (SPEC 3.2 v2)', () => {
  let peers: SsmPeers;
  let next = 1;
  const cleanups: Array<() => void> = [];

  useSsmPeers((given) => {
    peers = given;
  });
  const server = () => peers.server;
  after(() => {
    for (const cleanup of cleanups) cleanup();
  });

  /** A sandbox read locally and an identical one read over SSM. */
  function pair(options?: SidesOptions): { local: Side; remote: Side } {
    const sides = localAndSsm(peers, next++, options);
    cleanups.push(sides.local.sandbox.cleanup, sides.remote.sandbox.cleanup);
    return sides;
  }

  /** Runs `work` on both sides; the normalised answers must be equal. Returns the sizes SSM was sent. */
  async function same(sides: { local: Side; remote: Side }, work: (host: HostTarget) => Promise<unknown>) {
    const sent = server().sendCommands.length;
    const l = await work(sides.local.host);
    const r = await work(sides.remote.host);
    assert.equal(normalise(sides.remote, r), normalise(sides.local, l));
    return server().sendCommands.slice(sent).map(commandsBytes);
  }

  it('every operation, the long ones (37–39 KB plain) among them, sends under 16 KiB and answers as local does', async () => {
    const sides = pair();
    const requests: CommandRequest[] = [
      { command: 'server.provision', role: 'edge', operationId: PROVISION_ID },
      { command: 'product.set', product: 'haproxy', values: { maxconn: '2048', motd: ` it's "$(id)" ; # ` } },
      { command: 'product.get', product: 'haproxy' },
      { command: 'server.mode', mode: 'drain' },
      { command: 'product.upgrade', product: 'deepfiler', version: '3.2.2', operationId: UPGRADE_ID },
      { command: 'operation.get', operationId: UPGRADE_ID },
    ];
    const sizes: number[] = [];
    for (const request of requests) sizes.push(...(await same(sides, (host) => runCommand(host, request))));
    // The heartbeat read, the first time (which keeps the check plan) and from its kept plan.
    sizes.push(...(await same(sides, (host) => runHeartbeat(host))));
    const steady = await same(sides, (host) => runHeartbeat(host));
    assert.equal(steady.length, 1, 'one program for a heartbeat with its kept plan');
    sizes.push(...steady);
    assert.ok(sizes.length >= requests.length + 2);
    for (const size of sizes) assert.ok(size <= COMMANDS_LIMIT, `a command of ${size} bytes was sent`);
    const gzipped = server().sendCommands.filter((c) =>
      (c.Parameters?.['commands'] ?? []).join('\n').includes('gzip -dc'),
    );
    assert.ok(gzipped.length > 0, 'the large programs went gzipped');
  });

  it('a read relying on the cached host code sends one command of at most 512 bytes, and answers as local does', async () => {
    const sides = pair();
    // As bench/ssm.ts has its hosts: paths relative to the instance's working directory, as
    // short as SPEC 2.1's and 2.2's defaults (the sandbox's own are some 40 bytes longer).
    const instanceId = testInstanceId(next++);
    server().addInstance(instanceId, { cwd: sides.remote.sandbox.root });
    const remote: Side = {
      sandbox: sides.remote.sandbox,
      host: {
        name: 'web-1',
        transport: createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
        configPath: 'etc/bootstrap.ini',
        stateDir: 'state',
      },
    };
    const relative = { local: sides.local, remote };
    // Set up: state, the cache, a journal, and heartbeat.appstack's kept plan.
    for (const request of [
      { command: 'server.provision', role: 'edge', operationId: PROVISION_ID },
      { command: 'product.set', product: 'haproxy', values: { maxconn: '2048', motd: ` it's "$(id)" ; # ` } },
      { command: 'product.upgrade', product: 'deepfiler', version: '3.2.2', operationId: UPGRADE_ID },
      { command: 'heartbeat.appstack' },
    ] satisfies CommandRequest[])
      await same(relative, (host) => runCommand(host, request));
    const reads: Array<[string, (host: HostTarget) => Promise<unknown>]> = [
      ['heartbeat.get', (host) => runCommand(host, { command: 'heartbeat.get' })],
      ['heartbeat.appstack', (host) => runCommand(host, { command: 'heartbeat.appstack' })],
      ['a fleet heartbeat', (host) => runHeartbeat(host)],
      ['product.get', (host) => runCommand(host, { command: 'product.get', product: 'haproxy' })],
      [
        'product.get KEY',
        (host) => runCommand(host, { command: 'product.get', product: 'haproxy', key: 'motd' }),
      ],
      ['server.mode', (host) => runCommand(host, { command: 'server.mode' })],
      ['operation.get', (host) => runCommand(host, { command: 'operation.get', operationId: UPGRADE_ID })],
    ];
    for (const [name, read] of reads) {
      const sizes = await same(relative, read);
      assert.equal(sizes.length, 1, `${name}: one command, run from the cached code`);
      assert.ok(sizes[0]! <= CACHED_READ_LIMIT, `${name}: ${sizes[0]} bytes sent`);
    }
  });

  it('values larger than 16 KiB still travel whole (the command then exceeds 16 KiB)', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const sides = pair({
      configure: (sandbox) =>
        sandbox.writeConfig(
          bootstrapIni(sandbox.root).replace(
            'keys = maxconn, frontend_port, motd',
            `keys = ${keys.join(', ')}`,
          ),
        ),
    });
    // Random text: gzip cannot shrink it below the limit.
    const values = Object.fromEntries(
      keys.map((key) => [key, randomBytes(3000).toString('base64').slice(0, 4000)]),
    );
    const sizes = await same(sides, (host) =>
      runCommand(host, { command: 'product.set', product: 'haproxy', values }),
    );
    assert.ok(Math.max(...sizes) > COMMANDS_LIMIT, `the largest command was ${Math.max(...sizes)} bytes`);
    const got = await runCommand(sides.remote.host, { command: 'product.get', product: 'haproxy' });
    assert.deepEqual({ ...(got as { config: Record<string, string> }).config }, values);
  });

  it("a busybox-only host decodes the gzipped programs with busybox's base64 and gzip", async () => {
    const busybox = createBusyboxDir();
    cleanups.push(busybox.cleanup);
    for (const applet of ['gzip', 'dd']) symlinkSync('/bin/busybox', join(busybox.dir, applet));
    const env = { PATH: busybox.dir };
    const sides = pair({ env, local: createLocalTransport({ shell: busybox.shell, env }) });
    const sizes = [
      ...(await same(sides, (host) =>
        runCommand(host, { command: 'server.provision', role: 'edge', operationId: PROVISION_ID }),
      )),
      ...(await same(sides, (host) => runHeartbeat(host))),
    ];
    for (const size of sizes) assert.ok(size <= COMMANDS_LIMIT, `a command of ${size} bytes was sent`);
  });

  it('a host without gzip: a program too large to send plain is UNREACHABLE (missing-tool) and nothing runs', async () => {
    const sandbox = createSandbox();
    cleanups.push(() => sandbox.cleanup());
    const bin = mkdtempSync(join(tmpdir(), 'cloudiq-nogzip-'));
    cleanups.push(() => rmSync(bin, { recursive: true, force: true }));
    for (const tool of [
      'sh',
      'mktemp',
      'base64',
      'cat',
      'wc',
      'dd',
      'rm',
      'printf',
      'tail',
      'tr',
      'awk',
      'mkdir',
    ]) {
      const path = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      if (path.startsWith('/')) symlinkSync(path, join(bin, tool));
    }
    const instanceId = testInstanceId(next++);
    const instance = server().addInstance(instanceId, { env: { PATH: bin } });
    const host = sandbox.host(
      createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
    );
    const before = snapshotTree(sandbox.root);
    const error = await runCommand(host, { command: 'server.provision', role: 'edge' }).catch(
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'UNREACHABLE');
    assert.equal(error.details['reason'], 'missing-tool');
    assert.equal(error.details['tool'], 'gzip');
    assert.deepEqual(snapshotTree(sandbox.root), before, 'nothing changed on the host');
    assert.deepEqual(readdirSync(instance.tmpDir), [], 'no temp dir left');
  });
});
