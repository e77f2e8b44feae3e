// A long operation over SSM on a host that keeps the host code (SPEC 2.2 `lib/`, 3.2 v2): its
// runner's code comes from the code the command already loaded on the host ($_k, checked against
// its name), so the command carries only the runner's own lines, in the loaded form: a couple of
// KiB, not the 14 KiB of the whole program gzipped. The runner is still whole on the host: the
// journal is the one the self-contained form writes, byte for byte but for times and PIDs.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ABSENT_RECORD } from '../../lib/host/kept-code.ts';
import { type CommandRequest, runCommand } from '../../lib/operations/index.ts';
import { createSsmTransport } from '../../lib/transport/ssm/index.ts';
import { assertCacheSound, libDir, recording } from '../support/host-code.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import type { SendCommandBody } from '../support/ssm-invocations.ts';
import { testInstanceId } from '../support/ssm-server.ts';
import { type SsmPeers, useSsmPeers } from '../support/ssm-suite.ts';

/** What the brief of this change asks of a long operation's command with a kept host code. */
const LONG_LIMIT = 2.5 * 1024;

const uid = process.getuid?.() ?? 0;
const commandsOf = (body: SendCommandBody) => (body.Parameters?.['commands'] ?? []).join('\n');
/** A command relying on the kept code (frame.ts renderCommands): no program in base64, no host code. */
const isLoaded = (commands: string) => !commands.includes('base64 -d') && !commands.includes('b_emit()');
const isLongCommand = (commands: string) => commands.includes('B_RUN_DIR');

/** The long operations' ids: this and a digit. */
const ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z';

/** An answer without what differs from run to run: times, PIDs, uptime, load and the sandbox's path. */
function steady(journal: unknown, sandbox: Sandbox): string {
  return JSON.stringify(journal, (key, value: unknown) =>
    ['pid', 'pidStart', 'uptimeSeconds', 'load'].includes(key) ? `<${key}>` : value,
  )
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<time>')
    .replaceAll(sandbox.root, '<root>');
}

describe('a long operation over SSM whose runner takes its code from the kept host code', () => {
  let peers: SsmPeers;
  let next = 40;
  const sandboxes: Sandbox[] = [];
  useSsmPeers((given) => {
    peers = given;
  });
  after(() => {
    for (const sandbox of sandboxes) sandbox.cleanup();
  });

  /** A sandbox with state, set up through the local transport (which, for `kept`, keeps the code in lib/). */
  async function prepared(kept: boolean): Promise<Sandbox> {
    const sandbox = createSandbox();
    sandboxes.push(sandbox);
    const local = sandbox.host();
    await runCommand(local, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
    await runCommand(local, { command: 'product.get', product: 'haproxy' });
    assertCacheSound(sandbox.stateDir, uid);
    if (!kept) {
      // A lib/ that cannot be made (a file there): every program this client sends goes whole.
      rmSync(libDir(sandbox.stateDir), { recursive: true });
      writeFileSync(libDir(sandbox.stateDir), 'not a directory\n');
    }
    return sandbox;
  }

  /**
   * The sandbox through its own SSM instance, at paths relative to the instance's working
   * directory, as short as SPEC 2.1's and 2.2's defaults (bench/ssm.ts has its hosts so).
   */
  function overSsm(sandbox: Sandbox) {
    const instanceId = testInstanceId(next++);
    peers.server.addInstance(instanceId, { cwd: sandbox.root });
    const transport = recording(
      createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
    );
    const host = { name: 'web-1', transport, configPath: 'etc/bootstrap.ini', stateDir: 'state' };
    const sent = () =>
      peers.server.sendCommands.filter((c) => c.InstanceIds?.includes(instanceId)).map(commandsOf);
    return { host, sent, transport };
  }

  /** Each long operation: its name, its request, and how many hooks it runs. */
  const LONG_OPS: Array<[string, CommandRequest, number]> = [
    [
      'server.provision --role worker',
      { command: 'server.provision', role: 'worker', operationId: `${ID}1` },
      1,
    ],
    [
      'product.upgrade deepfiler',
      { command: 'product.upgrade', product: 'deepfiler', version: '3.2.2', operationId: `${ID}2` },
      1,
    ],
    ['server.provision --role edge', { command: 'server.provision', role: 'edge', operationId: `${ID}3` }, 2],
  ];

  async function longOps(sandbox: Sandbox) {
    const { host, sent, transport } = overSsm(sandbox);
    for (const [product, action] of [
      ['haproxy', 'provision'],
      ['deepfiler', 'provision'],
      ['deepfiler', 'upgrade'],
    ] as const)
      sandbox.behave(product, action, { output: `${product} ${action} ran once` });
    const answers: unknown[] = [];
    const sizes: number[] = [];
    for (const [, request] of LONG_OPS) {
      const before = sent().length;
      answers.push(await runCommand(host, request));
      sizes.push(
        ...sent()
          .slice(before)
          .filter(isLongCommand)
          .map((c) => Buffer.byteLength(c)),
      );
    }
    answers.push(await runCommand(host, { command: 'heartbeat.get' }));
    return { answers, sizes, sent: sent(), transport };
  }

  it('sends a command below 2.5 KiB, succeeds, and writes the journal the self-contained form writes', async () => {
    const kept = await prepared(true);
    const whole = await prepared(false);
    const got = await longOps(kept);
    const expected = await longOps(whole);

    const longs = got.sent.filter(isLongCommand);
    assert.equal(longs.length, LONG_OPS.length, 'one command per long operation, none sent again');
    for (const commands of longs)
      assert.ok(isLoaded(commands), 'the loaded form: the kept code, no program in base64');
    const [worker, upgrade, edge] = got.sizes;
    for (const [what, size] of [
      ['a provision of one product', worker],
      ['an upgrade', upgrade],
    ] as const)
      assert.ok(size !== undefined && size < LONG_LIMIT, `${what}: a command of ${size} bytes`);
    // Each step brings its product file in three states (running, succeeded, failed), in base64.
    assert.ok(
      edge !== undefined && edge < 4 * 1024,
      `a provision of two products: a command of ${edge} bytes`,
    );
    for (const exchange of got.transport.exchanges)
      assert.notEqual(exchange.result.stdout, `${ABSENT_RECORD}\n`, 'the kept code was used every time');
    // The comparison: the same operations on a host where every program goes whole.
    for (const commands of expected.sent.filter(isLongCommand)) assert.ok(!isLoaded(commands));

    for (const [i, answer] of got.answers.entries())
      assert.equal(
        steady(answer, kept),
        steady(expected.answers[i], whole),
        LONG_OPS[i]?.[0] ?? 'heartbeat.get',
      );
    // On the host: the journals as the self-contained form's runner wrote them, each hook run once.
    for (const [i, [name, , hooks]] of LONG_OPS.entries()) {
      const { id, status } = got.answers[i] as { id: string; status: string };
      assert.equal(status, 'succeeded', name);
      const read = (sandbox: Sandbox) =>
        readFileSync(join(sandbox.stateDir, 'operations', `${id}.json`), 'utf8');
      assert.equal(steady(JSON.parse(read(kept)), kept), steady(JSON.parse(read(whole)), whole), name);
      const log = readFileSync(join(kept.stateDir, 'logs', `${id}.log`), 'utf8');
      assert.equal(log.split(' ran once').length - 1, hooks, `${name}: ${log}`);
    }
    assertCacheSound(kept.stateDir, uid);
  });

  it('a value SSM would resolve ({{…}}) in the runner: the cached program goes whole, a few KiB, and its runner copies the code from lib/', async () => {
    const sandbox = await prepared(true);
    const { host, sent } = overSsm(sandbox);
    await runCommand(host, {
      command: 'product.set',
      product: 'deepfiler',
      values: { storage_path: '/srv/{{ssm:not-a-parameter}}' },
    });
    const journal = (await runCommand(host, { command: 'server.provision', role: 'worker' })) as {
      status: string;
    };
    assert.equal(journal.status, 'succeeded');
    assert.match(
      readFileSync(sandbox.hookEnvFile('deepfiler', 'provision'), 'utf8'),
      /^BOOTSTRAP_CFG_STORAGE_PATH=\/srv\/\{\{ssm:not-a-parameter\}\}$/m,
    );
    const [long, ...more] = sent().filter((commands) => commands.includes('base64 -d'));
    assert.equal(more.length, 0);
    assert.ok(
      long !== undefined && !long.includes('{{') && !long.includes('gzip -dc'),
      'whole, in plain base64',
    );
    const lines = long.split('\n');
    const data = lines.slice(lines.findIndex((line) => line.includes("<<'CLOUDIQ_PROGRAM'")) + 1);
    const program = Buffer.from(data.slice(0, data.indexOf('CLOUDIQ_PROGRAM')).join(''), 'base64').toString(
      'utf8',
    );
    assert.ok(program.includes('{{ssm:not-a-parameter}}') && program.includes('B_RUN_DIR'));
    assert.ok(!program.includes('B_HOSTCODE='), 'the cached form: the code comes from lib/');
    assert.ok(Buffer.byteLength(long) < 8 * 1024, `${Buffer.byteLength(long)} bytes`);
  });
});
