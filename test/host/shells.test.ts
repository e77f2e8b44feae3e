// The host program needs only a POSIX sh, awk and coreutils: the same scenario under dash, bash,
// busybox sh (busybox applets only, so no flock either), mksh, ksh93, posh and yash gives the same
// JSON. They differ where POSIX leaves room: ksh-family shells open `exec` descriptors
// close-on-exec, ksh93 parses patterns its own way, posh refuses `sh -s`, and mksh and posh have
// no printf builtin (so a long argument meets the kernel's 128 KiB cap). Each shell runs the
// scenario twice: fed its programs on stdin (the local transport) and sourcing them from a pipe
// as the SSH remote command has it (lib/transport/ssh/index.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderHeader } from '../../lib/host/host-code.ts';
import type { CommandRequest } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { createBusyboxDir, sevenShells } from '../support/host-files.ts';
import { createPipedTransport } from '../support/piped-transport.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const MOTD = ` it's "quoted" $(id -u) \`id\` ; # = \\ tab\there é 日本 😀 `;

/** Runs the scenario on a fresh sandbox; answers (and errors) with host-specific parts normalised. */
async function scenario(
  sandbox: Sandbox,
  shell: string,
  env: NodeJS.ProcessEnv = {},
  transport: Transport = createLocalTransport({ shell, env }),
): Promise<unknown[]> {
  const host = sandbox.host(transport);
  const steps: Array<CommandRequest | (() => void)> = [
    { command: 'server.mode' },
    { command: 'product.set', product: 'haproxy', values: { maxconn: '2048', motd: MOTD } },
    { command: 'product.set', product: 'deepfiler', values: { 'log.level': 'debug', threads: '4' } },
    { command: 'product.get', product: 'haproxy' },
    { command: 'product.get', product: 'haproxy', key: 'motd' },
    { command: 'product.get', product: 'haproxy', key: 'frontend_port' },
    { command: 'server.mode', mode: 'drain' },
    { command: 'server.provision', role: 'edge' },
    { command: 'product.upgrade', product: 'haproxy', version: '2.8.3' },
    () => sandbox.behave('deepfiler', 'upgrade', { exit: 7, output: 'bad disk\tsector "9"' }),
    { command: 'product.upgrade', product: 'deepfiler', version: '4.0' },
    { command: 'heartbeat.get' },
    () => sandbox.setHealthy('deepfiler', false),
    { command: 'heartbeat.appstack' },
    { command: 'product.set', product: 'haproxy', values: { nope: '1' } },
    { command: 'server.mode', mode: 'standby' },
    { command: 'product.get', product: 'deepfiler' },
    // The plan kept by the first appstack, now run within the read (find, grep, sha256sum).
    { command: 'heartbeat.appstack' },
  ];
  const answers: unknown[] = [];
  for (const step of steps) {
    if (typeof step === 'function') {
      step();
      continue;
    }
    answers.push(
      await runCommand(host, step).catch((error: { code: string; message: string }) => ({
        error: error.code,
        message: error.message,
      })),
    );
  }
  return JSON.parse(
    JSON.stringify(answers)
      .replaceAll(sandbox.root, '<root>')
      .replace(/op_[0-9A-Z]{26}/g, '<op>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<time>')
      .replace(/"pid":\d+/g, '"pid":0')
      .replace(/"uptimeSeconds":\d+/g, '"uptimeSeconds":0')
      .replace(/"load":\[[^\]]*\]/g, '"load":[]'),
  ) as unknown[];
}

describe('the host code is ASCII', () => {
  it('prelude.sh as sourced, and every program header: yash in the C locale stops reading at any other byte', () => {
    const texts = {
      'lib/host/prelude.sh': readFileSync(join(import.meta.dirname, '../../lib/host/prelude.sh'), 'latin1'),
      'a header': renderHeader({ configPath: '/c', stateDir: '/s' }, { plan: true }),
    };
    for (const [what, text] of Object.entries(texts)) {
      const odd = [...text].findIndex((c) => c.charCodeAt(0) > 0x7f);
      assert.equal(odd, -1, `${what}: a non-ASCII byte near: ${text.slice(Math.max(0, odd - 60), odd)}`);
    }
  });
});

describe('the host program under seven shells', () => {
  const sandboxes: Sandbox[] = [];
  const busybox = createBusyboxDir();
  const results = new Map<string, unknown[]>();
  const fresh = () => {
    const sandbox = createSandbox();
    sandboxes.push(sandbox);
    return sandbox;
  };
  before(async () => {
    results.set('dash', await scenario(fresh(), '/usr/bin/dash'));
  });
  after(() => {
    for (const sandbox of sandboxes) sandbox.cleanup();
    busybox.cleanup();
  });

  it('dash: the scenario answers as SPEC 2.5.1 says', () => {
    const answers = results.get('dash') ?? [];
    assert.deepEqual(answers[0], { mode: 'maintenance' });
    assert.deepEqual(answers[4], { product: 'haproxy', key: 'motd', value: MOTD });
    assert.deepEqual(answers[5], { product: 'haproxy', key: 'frontend_port', value: null });
    assert.equal((answers[7] as { status: string }).status, 'succeeded');
    const failed = answers[9] as {
      status: string;
      error: { code: string };
      steps: Array<{ output: string }>;
    };
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'HOOK_FAILED');
    assert.equal(failed.steps[0]?.output, 'bad disk\tsector "9"\n');
    assert.deepEqual((answers[10] as { products: unknown }).products, {
      haproxy: { version: '2.8.3', status: 'provisioned' },
      deepfiler: { version: null, status: 'failed' },
    });
    assert.equal((answers[11] as { status: string }).status, 'degraded');
    assert.equal((answers[12] as { error: string }).error, 'INVALID_KEY');
    assert.equal((answers[13] as { error: string }).error, 'INVALID_MODE');
    assert.deepEqual(answers[15], answers[11]);
  });

  it('bash gives the same JSON as dash', async () => {
    assert.deepEqual(await scenario(fresh(), '/bin/bash'), results.get('dash'));
  });

  it('busybox sh with busybox applets only gives the same JSON as dash', async () => {
    assert.deepEqual(await scenario(fresh(), busybox.shell, { PATH: busybox.dir }), results.get('dash'));
  });

  for (const shell of ['mksh', 'ksh93', 'posh', 'yash']) {
    it(`${shell} gives the same JSON as dash`, async () => {
      assert.deepEqual(await scenario(fresh(), shell), results.get('dash'));
    });
  }

  for (const [name, shell, env] of sevenShells(busybox)) {
    it(`${name} sourcing its programs from a pipe (the SSH remote command) gives the same JSON`, async () => {
      const transport = createPipedTransport(shell, env);
      assert.deepEqual(await scenario(fresh(), shell, env, transport), results.get('dash'));
    });
  }

  it('dash with the no-flock lock gives the same JSON', async () => {
    assert.deepEqual(
      await scenario(fresh(), '/usr/bin/dash', { BOOTSTRAP_NO_FLOCK: '1' }),
      results.get('dash'),
    );
  });
});
