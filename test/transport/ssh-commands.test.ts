// Every command of SPEC 2.5 run over SSH (a real sshd, and a real dropbear, logging in as the test
// user) gives the same JSON, byte for byte, as the local transport on the same sandbox. What differs between two
// runs whatever the transport — clocks, PIDs, load, generated operation ids — is normalised;
// long operations are given the same operation id on both sides.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { errorBody } from '../../lib/errors.ts';
import type { CommandRequest, HostTarget } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { SshPool } from '../../lib/transport/ssh/index.ts';
import { startDropbear } from '../support/dropbear.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import type { SshdHost } from '../support/sshd.ts';
import { ensureTestUser, sshTransportTo, startSshd } from '../support/sshd.ts';

const GENERATED_ID = /^op_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Replaces what differs between any two runs: times, PIDs, uptime, load, generated ids. */
function normalise(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return key === 'load' ? '<load>' : value.map((item) => normalise(item));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
  }
  if (typeof value === 'string' && /(At|_at)$/.test(key)) return '<time>';
  if (typeof value === 'number' && (key === 'pid' || key === 'uptimeSeconds')) return `<${key}>`;
  if (typeof value === 'string' && GENERATED_ID.test(value)) return '<generated id>';
  return value;
}

type Step =
  | { label: string; request: CommandRequest }
  | { label: string; prepare: (sandbox: Sandbox) => void };

const STEPS: Step[] = [
  { label: 'product.get, fresh', request: { command: 'product.get', product: 'haproxy' } },
  {
    label: 'product.get KEY, unset',
    request: { command: 'product.get', product: 'haproxy', key: 'maxconn' },
  },
  { label: 'server.mode', request: { command: 'server.mode' } },
  {
    label: 'product.set',
    request: {
      command: 'product.set',
      product: 'haproxy',
      values: { maxconn: '4096', motd: ` caf\u00e9 ; # = "q" 'x' $(id) \`id\` \\ ` },
    },
  },
  { label: 'product.get KEY', request: { command: 'product.get', product: 'haproxy', key: 'motd' } },
  {
    label: 'product.set, unknown key',
    request: { command: 'product.set', product: 'haproxy', values: { nope: '1' } },
  },
  { label: 'product.get, unknown product', request: { command: 'product.get', product: 'nginx' } },
  { label: 'server.mode MODE', request: { command: 'server.mode', mode: 'drain' } },
  { label: 'server.mode, invalid', request: { command: 'server.mode', mode: 'party' } },
  {
    label: 'server.provision',
    request: { command: 'server.provision', role: 'edge', operationId: 'op-ssh-provision-1' },
  },
  {
    label: 'server.provision, same id again',
    request: { command: 'server.provision', role: 'edge', operationId: 'op-ssh-provision-1' },
  },
  {
    label: 'product.upgrade',
    request: {
      command: 'product.upgrade',
      product: 'deepfiler',
      version: '3.2.1',
      operationId: 'op-ssh-upgrade-1',
    },
  },
  {
    label: 'upgrade hook will fail',
    prepare: (sandbox) => sandbox.behave('haproxy', 'upgrade', { exit: 3, output: 'boom' }),
  },
  {
    label: 'product.upgrade, failing hook',
    request: {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '9.9',
      operationId: 'op-ssh-upgrade-2',
    },
  },
  { label: 'operation.get', request: { command: 'operation.get', operationId: 'op-ssh-provision-1' } },
  { label: 'product.get, after upgrades', request: { command: 'product.get', product: 'deepfiler' } },
  { label: 'heartbeat.get', request: { command: 'heartbeat.get' } },
  { label: 'heartbeat.appstack, healthy', request: { command: 'heartbeat.appstack' } },
  { label: 'deepfiler goes down', prepare: (sandbox) => sandbox.setHealthy('deepfiler', false) },
  { label: 'heartbeat.appstack, degraded', request: { command: 'heartbeat.appstack' } },
];

async function runAll(sandbox: Sandbox, host: HostTarget): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (const step of STEPS) {
    if ('prepare' in step) {
      step.prepare(sandbox);
      continue;
    }
    let answer: unknown;
    try {
      answer = await runCommand(host, step.request);
    } catch (error) {
      answer = { error: errorBody(error) };
    }
    out.push([step.label, JSON.stringify(normalise(answer))]);
  }
  return out;
}

/** Back to a never-touched host: no state, no hook traces, default behaviour and health. */
function reset(sandbox: Sandbox): void {
  rmSync(sandbox.stateDir, { recursive: true, force: true });
  for (const dir of ['out', 'behaviour', 'health']) {
    for (const entry of readdirSync(join(sandbox.root, dir)))
      rmSync(join(sandbox.root, dir, entry), { force: true });
  }
}

describe('every command over SSH answers what the local transport answers', () => {
  let sshd: SshdHost;
  let sandbox: Sandbox;
  const pool = new SshPool();

  before(async () => {
    const user = await ensureTestUser();
    sshd = await startSshd();
    const owner =
      process.getuid?.() === 0
        ? {
            uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' })),
            gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' })),
          }
        : undefined;
    sandbox = createSandbox(owner ? { owner } : {});
  });
  after(async () => {
    await pool.close();
    sandbox.cleanup();
    await sshd.stop();
  });

  it('gives byte-for-byte the same JSON for every command, success and error alike', async () => {
    const local = await runAll(sandbox, sandbox.host(createLocalTransport()));
    reset(sandbox);
    const ssh = sshTransportTo(sshd, { pool });
    const overSsh = await runAll(sandbox, sandbox.host(ssh));
    assert.equal(overSsh.length, local.length);
    for (const [index, [label, json]] of overSsh.entries()) {
      assert.equal(json, local[index]![1], label);
    }
    // Sanity: the runs did what the steps say (a broken host program would fail both alike).
    const byLabel = new Map(overSsh);
    assert.match(byLabel.get('product.set, unknown key')!, /"code":"INVALID_KEY"/);
    assert.match(byLabel.get('server.provision')!, /"status":"succeeded"/);
    assert.match(byLabel.get('product.upgrade, failing hook')!, /"code":"HOOK_FAILED"/);
    assert.match(byLabel.get('heartbeat.appstack, degraded')!, /"status":"degraded"/);
    // Every program went over the one pooled connection.
    assert.equal(pool.stats().connectionsOpened, 1);
    assert.equal(await sshd.acceptedLogins(), 1);
  });

  it('over dropbear too, whose stdin the program cannot reopen by name as root', async () => {
    reset(sandbox);
    const local = await runAll(sandbox, sandbox.host(createLocalTransport()));
    reset(sandbox);
    const dropbear = await startDropbear();
    const dropbearPool = new SshPool();
    try {
      const overDropbear = await runAll(
        sandbox,
        sandbox.host(sshTransportTo(dropbear, { pool: dropbearPool })),
      );
      assert.equal(overDropbear.length, local.length);
      for (const [index, [label, json]] of overDropbear.entries()) {
        assert.equal(json, local[index]![1], label);
      }
      assert.match(new Map(overDropbear).get('server.provision')!, /"status":"succeeded"/);
      assert.equal(dropbearPool.stats().connectionsOpened, 1);
      assert.equal(await dropbear.acceptedLogins(), 1);
    } finally {
      await dropbearPool.close();
      await dropbear.stop();
      reset(sandbox);
    }
  });
});
