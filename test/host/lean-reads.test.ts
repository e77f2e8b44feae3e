// A read costs the host few processes: every file it needs is dumped by one awk, a kept check plan
// is found, trusted and hashed with one find and one sha256sum, and product.get reads only
// bootstrap.ini, server.ini and its own product's file. Each tool the program runs is counted by
// logging shims on PATH, under every shell the host program supports; the bytes a read brings back
// are the files' bytes exactly, whichever awk reads them.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { shq } from '../../lib/host/quote.ts';
import { runCommand, runHeartbeat } from '../../lib/operations/index.ts';
import { readSnapshot } from '../../lib/operations/snapshot.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { createBusyboxDir } from '../support/host-files.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

const cleanups: Array<() => void> = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
});

function fresh(): Sandbox {
  const sandbox = createSandbox();
  cleanups.push(() => sandbox.cleanup());
  return sandbox;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-lean-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const busybox = createBusyboxDir();
cleanups.push(busybox.cleanup);

/** Every tool a host program may run. */
const TOOLS = [
  'awk',
  'base64',
  'basename',
  'cat',
  'chmod',
  'date',
  'dirname',
  'env',
  'find',
  'flock',
  'grep',
  'head',
  'id',
  'kill',
  'ln',
  'ls',
  'mkdir',
  'mktemp',
  'mv',
  'printf',
  'rm',
  'sed',
  'setsid',
  'sha256sum',
  'sleep',
  'stat',
  'sync',
  'tail',
  'timeout',
  'tr',
  'wc',
];

/** A PATH of shims that log each tool's name, then run the real one from `realPath`. */
function loggingPath(realPath: string): { path: string; ran: () => string[]; reset: () => void } {
  const dir = tempDir();
  const log = join(dir, 'log');
  for (const tool of TOOLS) {
    const real = realPath
      .split(':')
      .map((d) => join(d, tool))
      .find((p) => {
        try {
          return readFileSync(p).length > 0;
        } catch {
          return false;
        }
      });
    if (!real) continue;
    writeFileSync(join(dir, tool), `#!/bin/sh\necho ${tool} >> '${log}'\nexec '${real}' "$@"\n`, {
      mode: 0o755,
    });
  }
  return {
    path: dir,
    // mksh and posh have no printf builtin: their printf is a program, which these counts leave out.
    ran: () =>
      (readIfThere(log) ?? '')
        .split('\n')
        .filter((tool) => tool !== '' && tool !== 'printf')
        .sort(),
    reset: () => writeFileSync(log, ''),
  };
}

function readIfThere(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A sandbox whose checks are scripts that run no tool, so what is logged is the program's own. */
function quietChecks(sandbox: Sandbox): void {
  const check = join(sandbox.hooksDir, 'quiet.check.sh');
  writeFileSync(check, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  sandbox.writeConfig(bootstrapIni(sandbox.root).replace(/check = exec:\S+/g, `check = exec:${check}`));
}

const SHELLS: Array<{ name: string; shell: string; realPath: string }> = [
  ...['/usr/bin/dash', '/bin/bash', '/usr/bin/mksh', '/usr/bin/ksh93', '/usr/bin/posh', '/usr/bin/yash'].map(
    (shell) => ({
      name: shell,
      shell,
      realPath: '/usr/local/bin:/usr/bin:/bin',
    }),
  ),
  { name: 'busybox sh', shell: busybox.shell, realPath: busybox.dir },
];

describe('the tools a read runs on the host', () => {
  for (const { name, shell, realPath } of SHELLS) {
    it(`${name}: a heartbeat with its kept plan runs one awk, one find, one sha256sum and the checks; product.get one awk`, async () => {
      const sandbox = fresh();
      quietChecks(sandbox);
      const setup = sandbox.host(createLocalTransport({ shell, env: { PATH: realPath } }));
      await runCommand(setup, { command: 'server.provision', role: 'edge' });
      await runCommand(setup, { command: 'product.set', product: 'haproxy', values: { motd: 'hi' } });
      const before = await runHeartbeat(setup);
      const logged = loggingPath(realPath);
      let programs = 0;
      const local = createLocalTransport({ shell, env: { PATH: logged.path } });
      const counting: Transport = {
        ...local,
        exec: (request) => {
          programs++;
          return local.exec(request);
        },
      };
      const host = sandbox.host(counting);
      logged.reset();
      const after = await runHeartbeat(host);
      const steady = (h: typeof before) => ({
        ...h,
        heartbeat: { ...h.heartbeat, uptimeSeconds: 0, load: [] },
      });
      assert.deepEqual(steady(after), steady(before));
      assert.equal(programs, 1, 'the kept plan ran within the read');
      // posh has no `test -O`: it asks `id -u` who runs it.
      const own = name.endsWith('posh') ? ['id'] : [];
      // Every program first checks the host code cached in lib/ (SPEC 2.2): one find, sha256sum under it.
      const cached = ['find', 'sha256sum', ...own];
      assert.deepEqual(
        logged.ran(),
        // The kept plan is checked in the same find and sha256sum as the host code.
        [...cached, 'awk', 'timeout', 'timeout'].sort(),
      );

      logged.reset();
      await runCommand(host, { command: 'product.get', product: 'haproxy' });
      assert.deepEqual(logged.ran(), [...cached, 'awk'].sort());

      // A quick write: its read, the lock, one date, one sha256sum, the file written atomically.
      logged.reset();
      await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } });
      const lock = name === 'busybox sh' ? ['ln', 'rm', 'rm'] : ['flock', 'flock'];
      const write = ['awk', 'awk', 'base64', 'date', 'mv', 'sha256sum', 'sync', 'sync'];
      assert.deepEqual(logged.ran(), [...cached, ...cached, ...lock, ...write].sort());
    });
  }
});

describe('process checks share one scan of /proc', () => {
  // Processes by these names run while the checks do: copies of sleep, whose process name is the
  // file's (the kernel keeps its first 15 bytes). awk takes the names as arguments, as they are.
  const dir = tempDir();
  const running = ['cloudiq-proc-a', 'cloudiq-proc-long-name', 'cq\\b'].map((name) => {
    const file = join(dir, name);
    writeFileSync(file, readFileSync('/bin/sleep'), { mode: 0o755 });
    return spawn(file, ['120'], { stdio: 'ignore' });
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
  });
  for (const { name, shell, realPath } of SHELLS) {
    it(`${name}: four process checks (one missing, one truncated, one with a backslash) cost one cat and one awk; a failing check's detail no base64`, async () => {
      const sandbox = fresh();
      quietChecks(sandbox);
      const quiet = `exec:${join(sandbox.hooksDir, 'quiet.check.sh')}`;
      const config = bootstrapIni(sandbox.root).replace(/check = exec:\S+/g, `check = ${quiet}`);
      const [first, second] = config.split(`check = ${quiet}`);
      sandbox.writeConfig(
        `${first}check = process:cloudiq-proc-a, process:cloudiq-proc-long-name, process:cloudiq-none${second}check = process:cq\\b, ${quiet}${config.split(`check = ${quiet}`)[2]}`,
      );
      const host = sandbox.host(createLocalTransport({ shell, env: { PATH: realPath } }));
      await runCommand(host, { command: 'server.provision', role: 'edge' });
      const expected = {
        status: 'degraded',
        products: {
          haproxy: {
            status: 'unhealthy',
            checks: [
              { check: 'process:cloudiq-proc-a', ok: true },
              { check: 'process:cloudiq-proc-long-name', ok: true },
              { check: 'process:cloudiq-none', ok: false, detail: 'no process named cloudiq-none' },
            ],
          },
          deepfiler: {
            status: 'healthy',
            checks: [
              { check: 'process:cq\\b', ok: true },
              { check: quiet, ok: true },
            ],
          },
        },
      };
      assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), expected, 'plan made');
      const logged = loggingPath(realPath);
      const counted = sandbox.host(createLocalTransport({ shell, env: { PATH: logged.path } }));
      logged.reset();
      assert.deepEqual(await runCommand(counted, { command: 'heartbeat.appstack' }), expected, 'plan kept');
      const own = name.endsWith('posh') ? ['id'] : [];
      // One base64: the check holding a backslash travels encoded; the missing one's detail, with its
      // spaces, travels as it is.
      assert.deepEqual(
        logged.ran(),
        ['find', 'sha256sum', ...own, 'awk', 'cat', 'awk', 'base64', 'timeout'].sort(),
      );
    });
  }
});

/** The sandbox through the local transport, counting the bytes its programs print (`counted.stdout`). */
function countingStdout(sandbox: Sandbox, env: Record<string, string> = {}) {
  const counted = { stdout: 0 };
  const local = createLocalTransport({ env });
  const host = sandbox.host({
    ...local,
    exec: async (request) => {
      const result = await local.exec(request);
      counted.stdout += Buffer.byteLength(result.stdout);
      return result;
    },
  });
  return { host, counted };
}

describe('product.get, product.set, product.upgrade and server.mode read only the files they need', () => {
  it("another product's file being a directory, or 4 MB, neither fails nor grows product.get, product.set, product.upgrade or server.mode", async () => {
    const sandbox = fresh();
    const { host, counted } = countingStdout(sandbox);
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '10' } });
    let expected = await runCommand(host, { command: 'product.get', product: 'haproxy' });
    // deepfiler's file is not read at all: a directory there is no CONFIG_ERROR for haproxy...
    mkdirSync(join(sandbox.stateDir, 'products', 'deepfiler.ini'));
    counted.stdout = 0;
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy' }), expected);
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' }), {
      product: 'haproxy',
      key: 'maxconn',
      value: '10',
    });
    // Nor for server.mode, read or set, nor for product.set or product.upgrade of another product.
    assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'maintenance' });
    assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'drain' }), { mode: 'drain' });
    const set = await runCommand(host, {
      command: 'product.set',
      product: 'haproxy',
      values: { maxconn: '11' },
    });
    assert.equal((set as { config: Record<string, string> }).config['maxconn'], '11');
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '10' } });
    const upgraded = await runCommand(host, {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '2.0',
    });
    assert.equal((upgraded as { status: string }).status, 'succeeded');
    expected = await runCommand(host, { command: 'product.get', product: 'haproxy' });
    rmSync(join(sandbox.stateDir, 'products', 'deepfiler.ini'), { recursive: true });
    // ...and 4 MB there does not travel.
    writeFileSync(
      join(sandbox.stateDir, 'products', 'deepfiler.ini'),
      `[config]\nthreads = ${'9'.repeat(4 << 20)}\n`,
    );
    counted.stdout = 0;
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy' }), expected);
    assert.ok(counted.stdout < 8192, `product.get brought back ${counted.stdout} bytes`);
    counted.stdout = 0;
    await runCommand(host, { command: 'server.mode' });
    await runCommand(host, { command: 'server.mode', mode: 'active' });
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '12' } });
    assert.ok(counted.stdout < 3 * 8192, `server.mode and product.set brought back ${counted.stdout} bytes`);
    // A product never written reads as empty, without reading another's file either.
    assert.deepEqual(
      await runCommand(host, { command: 'product.get', product: 'deepfiler', key: 'threads' }),
      {
        product: 'deepfiler',
        key: 'threads',
        value: '9'.repeat(4 << 20),
      },
    );
  });
});

describe('heartbeat.appstack reads no product file', () => {
  it("a product's file being a directory does not fail it, as it fails heartbeat.get", async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    await runCommand(host, { command: 'server.provision', role: 'edge' });
    mkdirSync(join(sandbox.stateDir, 'products', 'nothing-here.ini'));
    rmSync(join(sandbox.stateDir, 'products', 'deepfiler.ini'));
    mkdirSync(join(sandbox.stateDir, 'products', 'deepfiler.ini'));
    const appstack = (await runCommand(host, { command: 'heartbeat.appstack' })) as { status: string };
    assert.equal(appstack.status, 'healthy');
    await assert.rejects(runCommand(host, { command: 'heartbeat.get' }), { code: 'CONFIG_ERROR' });
  });
});

/** Files that are not plain text, each read back by its hash. */
const ODD_CONFIGS: Record<string, Buffer> = {
  crlf: Buffer.from(bootstrapIni('/r').replaceAll('\n', '\r\n')),
  'no final newline': Buffer.from(bootstrapIni('/r').trimEnd()),
  'blank lines at the end': Buffer.from(`${bootstrapIni('/r')}\n\n\n`),
  'latin-1 comment': Buffer.concat([
    Buffer.from('; caf\xe9 \xff\n', 'latin1'),
    Buffer.from(bootstrapIni('/r')),
  ]),
  'utf-8 and tabs': Buffer.from(`; 日本 😀\tx\n${bootstrapIni('/r')}`),
  'a control byte': Buffer.from(`; \u0001\u001b[0m\n${bootstrapIni('/r')}`),
  'a NUL inside': Buffer.concat([Buffer.from('; a\0b\n'), Buffer.from(bootstrapIni('/r'))]),
};

/** The awks a host may have: each as a dir to put first on PATH (undefined: the system's own). */
function awkDirs(): Array<[string, string | undefined]> {
  const gawk = tempDir();
  const bbawk = tempDir();
  writeFileSync(join(gawk, 'awk'), '#!/bin/sh\nexec gawk "$@"\n', { mode: 0o755 });
  writeFileSync(join(bbawk, 'awk'), '#!/bin/sh\nexec busybox awk "$@"\n', { mode: 0o755 });
  return [
    ['the system awk', undefined],
    ['busybox awk', bbawk],
    ...(readIfThere('/usr/bin/gawk') === null ? [] : ([['gawk', gawk]] as Array<[string, string]>)),
  ];
}

describe('a read brings back the bytes of each file exactly', () => {
  for (const [awk, dir] of awkDirs()) {
    it(`with ${awk}: odd bootstrap.ini files hash as they are on disk`, async () => {
      const sandbox = fresh();
      const env = dir === undefined ? {} : { PATH: `${dir}:${process.env['PATH']}` };
      const host = sandbox.host(createLocalTransport({ env }));
      for (const [what, bytes] of Object.entries(ODD_CONFIGS)) {
        writeFileSync(sandbox.configPath, bytes);
        const snapshot = await readSnapshot(host, {}).catch((error: Error) => error);
        if (snapshot instanceof Error) throw new Error(`${what}: ${snapshot.message}`);
        const sha = createHash('sha256').update(bytes).digest('hex');
        assert.equal(snapshot.expectations.get('config')?.sha256, sha, what);
      }
    });
  }
});

describe("a heartbeat reads only the last journal's first line and the products' [state]", () => {
  // What each hook printed: the journal keeps the last 4 KiB of it per step.
  const chatty = `${'Unpacking cloudiq-package (1.2.3) over (1.2.2) ... done.\n'.repeat(120)}`;
  for (const [awk, dir] of awkDirs()) {
    it(`with ${awk}: hooks that printed 4 KiB each, and 4 KiB config values, grow neither the answer nor the line the host reads byte by byte`, async () => {
      const sandbox = fresh();
      const env = dir === undefined ? {} : { PATH: `${dir}:${process.env['PATH']}` };
      const { host, counted } = countingStdout(sandbox, env);
      sandbox.behave('haproxy', 'provision', { output: chatty });
      sandbox.behave('deepfiler', 'provision', { output: chatty });
      const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as {
        id: string;
        finishedAt: string;
        steps: Array<{ output: string }>;
      };
      assert.equal(journal.steps.length, 2);
      assert.ok(journal.steps.every((step) => step.output.length >= 4000));
      const motd = 'm'.repeat(4000);
      await runCommand(host, { command: 'product.set', product: 'haproxy', values: { motd } });
      await runHeartbeat(host);

      // The journal on disk: its first line holds all but the steps, and the whole is one JSON.
      const file = readFileSync(join(sandbox.stateDir, 'operations', `${journal.id}.json`), 'utf8');
      const [first = '', rest = ''] = file.split('\n');
      assert.ok(first.length < 400, `the first line is ${first.length} bytes`);
      assert.ok(first.endsWith(',') && rest.startsWith('"steps":['), 'the steps start the second line');
      const { pidStart, ...onDisk } = JSON.parse(file);
      assert.match(pidStart, /^\d+$/);
      assert.deepEqual(onDisk, journal);

      counted.stdout = 0;
      const read = await runHeartbeat(host);
      assert.deepEqual(read.heartbeat.lastOperation, {
        id: journal.id,
        command: 'server.provision',
        status: 'succeeded',
        finishedAt: journal.finishedAt,
      });
      assert.deepEqual(read.heartbeat.products, {
        haproxy: { version: null, status: 'provisioned' },
        deepfiler: { version: null, status: 'provisioned' },
      });
      assert.ok(counted.stdout < 3000, `the heartbeat brought back ${counted.stdout} bytes`);
      counted.stdout = 0;
      const get = (await runCommand(host, { command: 'heartbeat.get' })) as typeof read.heartbeat;
      assert.deepEqual(
        [get.products, get.lastOperation],
        [read.heartbeat.products, read.heartbeat.lastOperation],
      );
      assert.ok(counted.stdout < 3000, `heartbeat.get brought back ${counted.stdout} bytes`);
      // product.get still reads the whole file.
      assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'motd' }), {
        product: 'haproxy',
        key: 'motd',
        value: motd,
      });
      // operation.get still brings the whole journal.
      assert.deepEqual(
        await runCommand(host, { command: 'operation.get', operationId: journal.id }),
        journal,
      );

      // A journal written on one line (as earlier versions wrote them) is read whole, as before.
      const oneLine = { ...journal, status: 'running', finishedAt: null, pid: 2 ** 22 + 1 };
      writeFileSync(
        join(sandbox.stateDir, 'operations', `${journal.id}.json`),
        `${JSON.stringify(oneLine)}\n`,
      );
      const old = await runHeartbeat(host);
      // Its runner is gone: it was cut short, and says so.
      assert.deepEqual(old.heartbeat.lastOperation, {
        id: journal.id,
        command: 'server.provision',
        status: 'failed',
        finishedAt: old.heartbeat.lastOperation?.finishedAt ?? 'a time',
      });
      assert.match(old.heartbeat.lastOperation?.finishedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });
  }
});

describe('b_expect_unchanged hashes its files together', () => {
  for (const { name, shell } of SHELLS) {
    it(`${name}: eight files (two sha256sum runs of up to six), any name, a change or a new file seen`, () => {
      const dir = tempDir();
      const files = Array.from({ length: 8 }, (_, i) => join(dir, `f ${i}'$(x)`));
      const words: string[] = [];
      for (const [i, file] of files.entries()) {
        writeFileSync(file, `file ${i}\n`);
        words.push(shq(file), createHash('sha256').update(`file ${i}\n`).digest('hex'));
      }
      const prelude = join(import.meta.dirname, '../../lib/host/prelude.sh');
      const run = (args: string[]) =>
        spawnSync(shell, ['-c', `. ${shq(prelude)}; b_expect_unchanged ${args.join(' ')}; echo "rc=$?"`], {
          encoding: 'utf8',
          env: { PATH: shell === busybox.shell ? busybox.dir : process.env['PATH'] },
        }).stdout;
      assert.equal(run([...words, shq(join(dir, 'none')), 'absent']), 'rc=0\n');
      assert.equal(run([...words.slice(0, 14), shq(files[7] ?? ''), '0'.repeat(64)]), '@conflict\nrc=1\n');
      assert.equal(run([...words, shq(files[0] ?? ''), 'absent']), '@conflict\nrc=1\n');
    });
  }
});
