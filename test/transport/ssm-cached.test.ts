// SPEC 2.2 `lib/` and 3.2 (v2) over SSM: a program relying on the host code kept on the host goes
// as a command of a few hundred bytes (its paths, one line that loads the kept code, its own lines),
// batched like any other; a host whose cache is missing or that SPEC 2.2 forbids using answers
// that command with nothing, having run nothing, gets the whole program next (once), and is
// repaired. The command loads and runs alike under the seven shells the host program supports.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cachedForm } from '../../lib/host/host-code.ts';
import { renderRead } from '../../lib/host/programs.ts';
import { shq } from '../../lib/host/quote.ts';
import { type HostTarget, runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { parseFrame, renderCommands } from '../../lib/transport/ssm/frame.ts';
import { createSsmTransport } from '../../lib/transport/ssm/index.ts';
import { useHostScratch, warmCache } from '../host/runner-setup.ts';
import { assertCacheSound, cacheFile, type Damage, damage, libDir, recording } from '../support/host-code.ts';
import { sevenShells } from '../support/host-files.ts';
import type { Sandbox } from '../support/sandbox.ts';
import type { SendCommandBody } from '../support/ssm-invocations.ts';
import { testInstanceId } from '../support/ssm-server.ts';
import { type SsmPeers, useSsmPeers } from '../support/ssm-suite.ts';

/** SPEC 3.2 (v2): with the host's cached code a read is a few hundred bytes. */
const CACHED_READ_LIMIT = 512;

const uid = process.getuid?.() ?? 0;
const commandsOf = (body: SendCommandBody) => (body.Parameters?.['commands'] ?? []).join('\n');

/**
 * The size `commands` would have with SPEC 2.1's and 2.2's default paths instead of the sandbox's
 * (some 40 bytes longer): the paths are the one part of a read's command that differs per host.
 */
function atDefaultPaths(commands: string, sandbox: Sandbox): number {
  const ours = shq(sandbox.stateDir).length + shq(sandbox.configPath).length;
  const defaults = shq('/var/bootstrap').length + shq('/etc/cloudiq/bootstrap.ini').length;
  assert.ok(commands.startsWith(`B_STATE=${shq(sandbox.stateDir)}\nB_CONFIG=${shq(sandbox.configPath)}\n`));
  return Buffer.byteLength(commands) - ours + defaults;
}

/** A cached command (frame.ts `renderCommands`): no program in base64, no host code in it. */
const isCached = (commands: string) => !commands.includes('base64 -d') && !commands.includes('b_emit()');

describe('SSM commands relying on the cached host code', () => {
  let peers: SsmPeers;
  let next = 1;
  useSsmPeers((given) => {
    peers = given;
  });
  const scratch = useHostScratch();

  /** A host with state and a sound cache (installed by the local transport's first program after a write). */
  async function warm(): Promise<Sandbox> {
    const sandbox = scratch.sandbox();
    await warmCache(sandbox, sandbox.host(), uid, 'haproxy', { maxconn: '1' });
    return sandbox;
  }

  /** The sandbox through its own SSM instance: the host, and what each exchange sent and got. */
  function overSsm(sandbox: Sandbox) {
    const instanceId = testInstanceId(next++);
    peers.server.addInstance(instanceId);
    const host = sandbox.host(
      createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
      'web-1',
    );
    const sent = () => peers.server.sendCommands.filter((c) => c.InstanceIds?.includes(instanceId));
    const ran = () => peers.server.invocationsOf(instanceId);
    return { host, sent, ran };
  }

  it('a heartbeat of 60 hosts goes as one text of at most 512 bytes, in 2 SendCommand calls (50 + 10)', async () => {
    // As bench/ssm.ts has its hosts: the same relative paths on every host, so the same text.
    const template = await warm();
    const root = scratch.tempDir('cloudiq-ssm-cached-');
    const hosts: HostTarget[] = [];
    for (let i = 0; i < 60; i++) {
      const dir = join(root, String(i));
      cpSync(template.root, dir, { recursive: true });
      const instanceId = testInstanceId(next++);
      peers.server.addInstance(instanceId, { cwd: dir });
      hosts.push({
        name: `h${i}`,
        transport: createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
        configPath: 'etc/bootstrap.ini',
        stateDir: 'state',
      });
    }
    const before = peers.server.sendCommands.length;
    const answers = await Promise.all(hosts.map((host) => runCommand(host, { command: 'heartbeat.get' })));
    for (const answer of answers)
      assert.deepEqual(
        { ...(answer as object), uptimeSeconds: 0, load: [] },
        {
          ...(answers[0] as object),
          uptimeSeconds: 0,
          load: [],
        },
      );
    const sent = peers.server.sendCommands.slice(before);
    assert.deepEqual(
      sent.map((c) => c.InstanceIds?.length),
      [50, 10],
    );
    const [first, second] = sent.map(commandsOf);
    assert.equal(first, second, 'the same text for every host');
    assert.ok(isCached(first ?? ''));
    assert.ok(Buffer.byteLength(first ?? '') <= CACHED_READ_LIMIT, `${Buffer.byteLength(first ?? '')} bytes`);
  });

  it('a state dir without the cache: a short command that runs nothing, then the whole program once, which caches the code', async () => {
    const sandbox = await warm();
    const { host, sent, ran } = overSsm(sandbox);
    const expected = await runCommand(sandbox.host(), { command: 'product.get', product: 'haproxy' });
    rmSync(libDir(sandbox.stateDir), { recursive: true });

    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy' }), expected);
    const [short, whole] = sent().map(commandsOf);
    assert.equal(sent().length, 2);
    assert.ok(isCached(short ?? '') && atDefaultPaths(short ?? '', sandbox) <= CACHED_READ_LIMIT);
    assert.ok(!isCached(whole ?? ''), 'then the whole program');
    assert.deepEqual(
      [ran()[0]!.stdout, ran()[0]!.responseCode],
      ['', 0],
      'the short command said nothing and ran nothing',
    );
    assertCacheSound(sandbox.stateDir, uid);

    // Every later read: one short command, answered from the cache.
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy' }), expected);
    assert.equal(sent().length, 3);
    const cached = commandsOf(sent()[2]!);
    assert.ok(isCached(cached) && atDefaultPaths(cached, sandbox) <= CACHED_READ_LIMIT);
  });

  const DAMAGES: Damage[] = [
    'corrupt',
    'foreign file',
    'foreign lib/',
    'group-writable',
    'other-writable lib/',
  ];
  for (const kind of DAMAGES) {
    it(`a ${kind} cache: a read answers as before, the short command ran nothing, and the cache is repaired where lib/ is ours`, async () => {
      const sandbox = await warm();
      const { host, sent, ran } = overSsm(sandbox);
      const read = () => runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' });
      const before = await read();
      assert.equal(sent().length, 1, 'a sound cache: one short command');
      assert.ok(isCached(commandsOf(sent()[0]!)));

      const mark = join(sandbox.root, 'out', 'corrupt-cache-ran');
      damage(sandbox.stateDir, kind, mark);
      assert.deepEqual(await read(), before);
      assert.equal(sent().length, 3, 'the short command, then the whole program');
      assert.ok(isCached(commandsOf(sent()[1]!)) && !isCached(commandsOf(sent()[2]!)));
      assert.equal(ran()[1]!.stdout, '', 'the short command ran nothing');
      assert.equal(existsSync(mark), false, 'a cache that does not match its name never runs');

      await read();
      if (kind === 'foreign lib/') {
        // Nothing is cached in a lib/ of someone else: this client now sends whole programs at once.
        assert.equal(sent().length, 4);
        assert.ok(!isCached(commandsOf(sent()[3]!)));
      } else {
        assertCacheSound(sandbox.stateDir, uid);
        assert.equal(sent().length, 4);
        assert.ok(isCached(commandsOf(sent()[3]!)), 'repaired: short again');
      }
    });
  }

  for (const kind of ['corrupt', 'foreign file', 'group-writable'] satisfies Damage[]) {
    it(`product.set whose cache turns ${kind} between its read and its write happens exactly once`, async () => {
      const sandbox = await warm();
      const instanceId = testInstanceId(next++);
      peers.server.addInstance(instanceId);
      const transport = recording(
        createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher }),
      );
      const host = sandbox.host(transport, 'web-1');
      transport.tamperBefore(
        (program) => program.includes('b_take_lock') && !program.includes('B_HOSTCODE='),
        () => damage(sandbox.stateDir, kind, join(sandbox.root, 'out', 'corrupt-cache-ran')),
      );
      const got = await runCommand(host, {
        command: 'product.set',
        product: 'haproxy',
        values: { maxconn: '4096' },
      });
      assert.equal((got as { config: Record<string, string> }).config['maxconn'], '4096');
      const sent = peers.server.sendCommands
        .filter((c) => c.InstanceIds?.includes(instanceId))
        .map(commandsOf);
      const answers = peers.server.invocationsOf(instanceId);
      // Its read from the cache; its write, short (the cache now unusable), then whole.
      assert.equal(sent.length, 3);
      assert.deepEqual(sent.map(isCached), [true, true, false]);
      assert.equal(answers[1]!.stdout, '', 'the short write ran nothing');
      // `@ok` is the record of a committed write (lib/host/programs.ts renderQuickWrite).
      assert.equal(answers.filter((i) => i.stdout.includes('\n@ok ')).length, 1, 'written once');
      const lock = join(sandbox.stateDir, 'bootstrap.pid');
      assert.ok(!existsSync(lock) || readFileSync(lock).length === 0, 'the lock was released');
      assertCacheSound(sandbox.stateDir, uid);
      assert.deepEqual(
        await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' }),
        {
          product: 'haproxy',
          key: 'maxconn',
          value: '4096',
        },
      );
    });
  }
});

describe('which programs go as a cached command', () => {
  const read = (stateDir: string) =>
    cachedForm(renderRead({ stateDir, configPath: '/etc/cloudiq/bootstrap.ini' }, { lock: true }))!;

  it('a read in its cached form, at the default paths: at most 512 bytes, no base64', () => {
    const { commands, cached } = renderCommands(read('/var/bootstrap'));
    assert.ok(cached && isCached(commands));
    assert.ok(Buffer.byteLength(commands) <= CACHED_READ_LIMIT, `${Buffer.byteLength(commands)} bytes`);
  });

  it('text SSM would resolve ({{…}}) or a CR goes whole, in base64, as does a program not in its cached form', () => {
    for (const program of [read('/var/{{ssm:x}}'), read('/var/a\rb'), 'echo plain\n']) {
      const { commands, cached } = renderCommands(program);
      assert.equal(cached, false);
      assert.ok(commands.includes('base64 -d') && !commands.includes('{{') && !commands.includes('\r'));
    }
  });
});

describe('the cached command under the seven shells, as the agent runs it', () => {
  const scratch = useHostScratch();
  const dir = scratch.tempDir('ssm-cached-shells-');

  /** The text in a script file, run with `SHELL -c FILE` in an environment of its own. */
  function runAsAgent(shell: string, env: NodeJS.ProcessEnv, text: string) {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    const script = join(dir, '_script.sh');
    writeFileSync(script, text, { mode: 0o700 });
    const result = spawnSync(shell, ['-c', script], {
      env: { PATH: process.env['PATH'], ...env, TMPDIR: tmp },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.deepEqual(readdirSync(tmp), [], 'no temp dir left');
    return { stdout: result.stdout, stderr: result.stderr, status: result.status };
  }

  /** A read's answer without what differs from run to run (uptime, load). */
  const steady = (stdout: string) => stdout.replace(/^@fact .*\n/gm, '');

  for (const [name, shell, env = {}] of sevenShells(scratch.busybox)) {
    it(`${name}: loads the kept code, answers as the cached program does, and says nothing where the cache is unusable`, async () => {
      const sandbox = scratch.sandbox();
      const local = createLocalTransport({ shell, env });
      await runCommand(sandbox.host(local), { command: 'server.provision', role: 'edge' });
      await runCommand(sandbox.host(local), { command: 'heartbeat.appstack' });
      for (const plan of [{ lock: true, newestJournal: true, productState: true }, { checks: true }]) {
        const program = cachedForm(renderRead(sandbox, plan));
        assert.ok(program);
        const { commands, cached } = renderCommands(program);
        assert.ok(cached);
        const ran = runAsAgent(shell, env, commands);
        assert.equal(ran.stderr, '', 'the command prints on stdout only');
        assert.equal(ran.status, 0);
        const frame = parseFrame(ran.stdout);
        assert.ok(frame?.kind === 'inline', ran.stdout.slice(0, 200));
        assert.equal(frame.stderr, '');
        const direct = await local.exec({ program });
        assert.equal(steady(frame.stdout), steady(direct.stdout));
        if (plan.checks) assert.match(frame.stdout, /^@checkplan /m, 'the kept plan ran');
      }

      const program = cachedForm(renderRead(sandbox, { lock: true }))!;
      const { commands } = renderCommands(program);
      const mark = join(sandbox.root, 'out', 'corrupt-cache-ran');
      const file = cacheFile(sandbox.stateDir);
      const sound = readFileSync(file);
      for (const kind of ['group-writable', 'other-writable lib/', 'corrupt', 'missing'] satisfies Damage[]) {
        damage(sandbox.stateDir, kind, mark);
        assert.deepEqual(runAsAgent(shell, env, commands), { stdout: '', stderr: '', status: 0 }, kind);
        rmSync(file, { force: true });
        writeFileSync(file, sound, { mode: 0o640 });
        chmodSync(libDir(sandbox.stateDir), 0o750);
      }
      assert.equal(existsSync(mark), false, 'a cache that does not match its name never runs');
      assert.equal(parseFrame(runAsAgent(shell, env, commands).stdout)?.kind, 'inline', 'sound again');
    });
  }
});
