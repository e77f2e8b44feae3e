// heartbeat.appstack (SPEC 2.5 v2): the host runs exactly the checks the plan names — those of the
// recorded role's products (every product while no role is recorded), as the tool's own parser of
// bootstrap.ini lists them. Nothing the parser refuses or does not list ever runs.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ensureDemoHost } from '../../lib/demo/demo-fleet.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { HOST_CODE_SHA256 } from '../../lib/host/kept-code.ts';
import type { AppstackAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { createBusyboxDir, readIfExists, sevenShells } from '../support/host-files.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

const sandboxes: Sandbox[] = [];
const dirs: string[] = [];
after(() => {
  for (const sandbox of sandboxes) sandbox.cleanup();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function fresh(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  return sandbox;
}

/** An exec check that records each run of it in out/ran-NAME. */
function markingCheck(sandbox: Sandbox, name: string): string {
  const path = join(sandbox.hooksDir, `${name}.check.sh`);
  writeFileSync(path, `#!/bin/sh\necho ran >> '${join(sandbox.root, 'out', `ran-${name}`)}'\n`, {
    mode: 0o755,
  });
  return `exec:${path}`;
}

const ran = (sandbox: Sandbox, name: string) => readIfExists(join(sandbox.root, 'out', `ran-${name}`));

/** The local transport, counting the programs it runs. */
function countingTransport(): Transport & { programs: number } {
  const local = createLocalTransport();
  const counting = {
    kind: local.kind,
    target: local.target,
    programs: 0,
    exec(request: Parameters<Transport['exec']>[0]) {
      counting.programs += 1;
      return local.exec(request);
    },
    close: () => local.close(),
  };
  return counting;
}

const keptPlans = (sandbox: Sandbox) =>
  readdirSync(join(sandbox.stateDir, 'lib')).filter((f) => !f.startsWith('.') && f !== HOST_CODE_SHA256);

describe('heartbeat.appstack runs the checks of the plan', () => {
  it("checks only the recorded role's products (all of bootstrap.ini's while no role is recorded)", async () => {
    const sandbox = fresh();
    const host = sandbox.host();
    sandbox.setHealthy('haproxy', false);
    const before = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.equal(before.status, 'degraded');
    assert.deepEqual(Object.keys(before.products), ['haproxy', 'deepfiler']);
    const journal = (await runCommand(host, { command: 'server.provision', role: 'worker' })) as Journal;
    assert.equal(journal.status, 'succeeded');
    const after = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.equal(after.status, 'healthy', 'haproxy is not part of the worker role');
    assert.deepEqual(Object.keys(after.products), ['deepfiler']);
  });

  it('a repeated `check =` line is a CONFIG_ERROR, and runs neither check', async () => {
    const sandbox = fresh();
    const first = markingCheck(sandbox, 'first');
    const second = markingCheck(sandbox, 'second');
    sandbox.writeConfig(
      bootstrapIni(sandbox.root).replace(
        /check = exec:\S+haproxy\.check\.sh/,
        `check = ${first}\ncheck = ${second}`,
      ),
    );
    await assert.rejects(runCommand(sandbox.host(), { command: 'heartbeat.appstack' }), {
      code: 'CONFIG_ERROR',
      message: /\[product:haproxy\] check: given twice/,
    });
    assert.equal(ran(sandbox, 'first'), null, 'a check of a refused file ran on the host');
    assert.equal(ran(sandbox, 'second'), null, 'a check of a refused file ran on the host');
  });

  it('a refused bootstrap.ini (CONFIG_ERROR) runs no check at all', async () => {
    const sandbox = fresh();
    const marking = markingCheck(sandbox, 'valid');
    sandbox.writeConfig(
      bootstrapIni(sandbox.root)
        .replace(/check = exec:\S+haproxy\.check\.sh/, `check = ${marking}`)
        .replace(/check = exec:\S+deepfiler\.check\.sh/, 'check = bogus:thing'),
    );
    const error = await runCommand(sandbox.host(), { command: 'heartbeat.appstack' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError && error.code === 'CONFIG_ERROR', String(error));
    assert.equal(ran(sandbox, 'valid'), null, 'a check ran although bootstrap.ini was refused');
  });

  it("the demo's worker host is healthy once provisioned as a worker", async () => {
    const root = mkdtempSync(join(tmpdir(), 'cloudiq-demo-'));
    dirs.push(root);
    const demo = ensureDemoHost('worker-1', ['workers'], root);
    const host = { ...demo, transport: createLocalTransport() };
    const journal = (await runCommand(host, { command: 'server.provision', role: 'worker' })) as Journal;
    assert.equal(journal.status, 'succeeded');
    const answer = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.deepEqual(answer, {
      status: 'healthy',
      products: {
        deepfiler: {
          status: 'healthy',
          checks: [
            { check: `exec:${join(root, 'hosts', 'worker-1', 'hooks', 'deepfiler.check.sh')}`, ok: true },
          ],
        },
      },
    });
  });

  it('keeps its plan in lib/: the next heartbeat runs it in its one read, until a file it was made from changes', async () => {
    const sandbox = fresh();
    const transport = countingTransport();
    const host = sandbox.host(transport);
    await runCommand(host, { command: 'server.provision', role: 'edge' });
    sandbox.setHealthy('deepfiler', false);
    const first = await runCommand(host, { command: 'heartbeat.appstack' });
    transport.programs = 0;
    assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), first);
    assert.equal(transport.programs, 1, 'the kept plan should run within the read');
    assert.equal((first as AppstackAnswer).status, 'degraded');
    // A new role (server.ini changed): the kept plan is not for these files; a new one is made.
    await runCommand(host, { command: 'server.provision', role: 'worker' });
    transport.programs = 0;
    const worker = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.equal(transport.programs, 2);
    assert.deepEqual(Object.keys(worker.products), ['deepfiler']);
    assert.equal(keptPlans(sandbox).length, 1, 'older plans are dropped');
    // bootstrap.ini changed: likewise.
    const marking = markingCheck(sandbox, 'new');
    sandbox.writeConfig(
      bootstrapIni(sandbox.root).replace(/check = exec:\S+deepfiler\.check\.sh/, `check = ${marking}`),
    );
    transport.programs = 0;
    const changed = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.equal(transport.programs, 2);
    assert.deepEqual(changed.products['deepfiler']?.checks, [{ check: marking, ok: true }]);
  });

  it("keeps and runs its plan where the state dir's path has spaces and quotes in it", async () => {
    const sandbox = fresh();
    const parent = mkdtempSync(join(tmpdir(), "appstack it's a dir "));
    dirs.push(parent);
    const transport = countingTransport();
    const host = { ...sandbox.host(transport), stateDir: join(parent, 'state $(x) here') };
    await runCommand(host, { command: 'server.provision', role: 'worker' });
    const marking = markingCheck(sandbox, 'spaced');
    sandbox.writeConfig(
      bootstrapIni(sandbox.root).replace(/check = exec:\S+deepfiler\.check\.sh/, `check = ${marking}`),
    );
    const first = await runCommand(host, { command: 'heartbeat.appstack' });
    transport.programs = 0;
    assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), first);
    assert.equal(transport.programs, 1, 'the kept plan should run within the read');
    assert.equal(ran(sandbox, 'spaced'), 'ran\nran\n');
  });

  it("never runs a kept plan that fails SPEC 2.2's terms for lib/ (its name, its mode)", async () => {
    const sandbox = fresh();
    const transport = countingTransport();
    const host = sandbox.host(transport);
    await runCommand(host, { command: 'server.provision', role: 'worker' });
    await runCommand(host, { command: 'heartbeat.appstack' });
    const [name] = keptPlans(sandbox);
    const path = join(sandbox.stateDir, 'lib', name ?? '');
    const marking = markingCheck(sandbox, 'planted');
    // Content that no longer hashes to its name.
    writeFileSync(path, `${readFileSync(path, 'utf8')}b_check deepfiler '${marking}'\n`, { mode: 0o640 });
    transport.programs = 0;
    await runCommand(host, { command: 'heartbeat.appstack' });
    assert.equal(ran(sandbox, 'planted'), null, 'a plan whose content is not its name ran');
    assert.equal(transport.programs, 2);
    // A plan with the right name that anyone in its group may rewrite.
    const [kept] = keptPlans(sandbox);
    chmodSync(join(sandbox.stateDir, 'lib', kept ?? ''), 0o660);
    transport.programs = 0;
    await runCommand(host, { command: 'heartbeat.appstack' });
    assert.equal(transport.programs, 2, 'a group-writable plan ran');
    // A plan whose folder anyone may write to.
    chmodSync(join(sandbox.stateDir, 'lib'), 0o757);
    transport.programs = 0;
    await runCommand(host, { command: 'heartbeat.appstack' });
    assert.equal(transport.programs, 2, 'a plan in a world-writable folder ran');
  });
});

describe('heartbeat.appstack runs a plan’s checks side by side', () => {
  const busybox = createBusyboxDir();
  after(() => busybox.cleanup());
  for (const [name, shell, env] of sevenShells(busybox)) {
    it(`${name}: two checks that each wait for the other both pass; each record names its own check`, async () => {
      const sandbox = fresh();
      const out = join(sandbox.root, 'out');
      // Each marks that it runs, then waits up to 8 s for the other: one after the other, the
      // first would fail. A third exits 3; a process check (another kind, run in a subshell) fails.
      const waiting = (me: string, other: string) => {
        const file = join(sandbox.hooksDir, `${me}.check.sh`);
        writeFileSync(
          file,
          `#!/bin/sh\n: > '${out}/${me}'\ni=0\nwhile [ ! -e '${out}/${other}' ] && [ $i -lt 80 ]; do sleep 0.1; i=$((i + 1)); done\n[ -e '${out}/${other}' ]\n`,
          { mode: 0o755 },
        );
        return `exec:${file}`;
      };
      const a = waiting('a', 'b');
      const b = waiting('b', 'a');
      // Over 1 KiB, a check runs in the program's own shell (its record could pass PIPE_BUF).
      const long = `cloudiq-${'x'.repeat(1100)}`;
      const three = join(sandbox.hooksDir, 'three.check.sh');
      writeFileSync(three, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
      sandbox.writeConfig(
        bootstrapIni(sandbox.root)
          .replace(
            /check = exec:\S+haproxy\.check\.sh/,
            `check = ${a}, process:cloudiq-none, process:${long}`,
          )
          .replace(/check = exec:\S+deepfiler\.check\.sh/, `check = exec:${three}, ${b}`),
      );
      const host = sandbox.host(createLocalTransport({ shell, env: env ?? {} }));
      await runCommand(host, { command: 'server.provision', role: 'edge' });
      const expected: AppstackAnswer = {
        status: 'down',
        products: {
          haproxy: {
            status: 'unhealthy',
            checks: [
              { check: a, ok: true },
              { check: 'process:cloudiq-none', ok: false, detail: 'no process named cloudiq-none' },
              { check: `process:${long}`, ok: false, detail: `no process named ${long}` },
            ],
          },
          deepfiler: {
            status: 'unhealthy',
            checks: [
              { check: `exec:${three}`, ok: false, detail: 'exited 3' },
              { check: b, ok: true },
            ],
          },
        },
      };
      // The first makes and keeps the plan; the second runs the kept plan within its read.
      for (const round of ['plan made', 'plan kept']) {
        rmSync(join(out, 'a'), { force: true });
        rmSync(join(out, 'b'), { force: true });
        assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), expected, round);
      }
    });
  }
});
