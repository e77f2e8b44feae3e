// Every command of SPEC 2.5 through runCommand against a sandbox host (real sh, real hooks), with
// the JSON of SPEC 2.5.1 checked field by field.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseIni } from '../../lib/config/ini-file.ts';
import type { AppstackAnswer, HeartbeatAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { holdLock } from '../support/held-lock.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** An answer as its JSON says it (SPEC 2.5.1): name-keyed records have no prototype. */
const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const OP_ID = /^op_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Checks every field of a journal (SPEC 2.5) and the steps' shape. */
function assertJournal(
  journal: Journal,
  expected: { command: string; args: Record<string, string>; status: string; steps: string[] },
): void {
  assert.deepEqual(Object.keys(journal).sort(), [
    'args',
    'command',
    'error',
    'finishedAt',
    'id',
    'pid',
    'startedAt',
    'status',
    'steps',
  ]);
  assert.match(journal.id, OP_ID);
  assert.equal(journal.command, expected.command);
  assert.deepEqual(journal.args, expected.args);
  assert.equal(journal.status, expected.status);
  assert.ok(Number.isInteger(journal.pid) && journal.pid > 1);
  assert.match(journal.startedAt, ISO);
  if (expected.status === 'running') assert.equal(journal.finishedAt, null);
  else assert.match(journal.finishedAt ?? '', ISO);
  if (expected.status !== 'failed') assert.equal(journal.error, null);
  assert.deepEqual(
    journal.steps.map((s) => `${s.product}.${s.action}`),
    expected.steps,
  );
  for (const step of journal.steps) {
    assert.deepEqual(Object.keys(step).sort(), [
      'action',
      'exitCode',
      'finishedAt',
      'output',
      'product',
      'startedAt',
    ]);
    assert.match(step.startedAt, ISO);
    assert.match(step.finishedAt, ISO);
  }
}

describe('every command on a sandbox host', () => {
  let sandbox: Sandbox;
  let host: HostTarget;
  before(() => {
    sandbox = createSandbox();
    host = sandbox.host();
  });
  after(() => sandbox.cleanup());

  it('product.get on a fresh host: empty config and state, value null', async () => {
    assert.deepEqual(json(await runCommand(host, { command: 'product.get', product: 'haproxy' })), {
      product: 'haproxy',
      config: {},
      state: {},
    });
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' }), {
      product: 'haproxy',
      key: 'maxconn',
      value: null,
    });
  });

  it('server.mode without a mode is initial_mode until one is set', async () => {
    assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'maintenance' });
  });

  it('product.set answers as product.get after the change, and creates the state dir 0750', async () => {
    const answer = (await runCommand(host, {
      command: 'product.set',
      product: 'haproxy',
      values: { maxconn: '4096', motd: ' hello ; # = world ' },
    })) as { product: string; config: Record<string, string>; state: Record<string, string> };
    assert.deepEqual(Object.keys(answer), ['product', 'config', 'state']);
    assert.equal(answer.product, 'haproxy');
    assert.deepEqual(json(answer.config), { maxconn: '4096', motd: ' hello ; # = world ' });
    assert.deepEqual(Object.keys(answer.state).sort(), ['last_operation', 'updated_at']);
    assert.match(answer.state['updated_at'] ?? '', ISO);
    assert.match(answer.state['last_operation'] ?? '', OP_ID);
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy' }), answer);
    assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'motd' }), {
      product: 'haproxy',
      key: 'motd',
      value: ' hello ; # = world ',
    });
    assert.equal(statSync(sandbox.stateDir).mode & 0o777, 0o750);
    const file = parseIni(readFileSync(join(sandbox.stateDir, 'products', 'haproxy.ini'), 'utf8'));
    assert.deepEqual(json(file['config']), json(answer.config));
    assert.deepEqual(json(file['state']), json(answer.state));
  });

  it('product.set keeps the keys it does not name', async () => {
    const answer = (await runCommand(host, {
      command: 'product.set',
      product: 'haproxy',
      values: { frontend_port: '8080' },
    })) as { config: Record<string, string> };
    assert.deepEqual(json(answer.config), {
      maxconn: '4096',
      motd: ' hello ; # = world ',
      frontend_port: '8080',
    });
  });

  it('server.mode MODE sets it', async () => {
    assert.deepEqual(await runCommand(host, { command: 'server.mode', mode: 'drain' }), { mode: 'drain' });
    assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'drain' });
    const server = parseIni(readFileSync(join(sandbox.stateDir, 'server.ini'), 'utf8'))['server'];
    assert.equal(server?.['mode'], 'drain');
    assert.match(server?.['last_operation'] ?? '', OP_ID);
  });

  it('server.provision runs the role in order and records role, provisioned_at, provisioned_mode', async () => {
    const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
    assertJournal(journal, {
      command: 'server.provision',
      args: { role: 'edge' },
      status: 'succeeded',
      steps: ['haproxy.provision', 'deepfiler.provision'],
    });
    assert.deepEqual(
      journal.steps.map((s) => [s.exitCode, s.output]),
      [
        [0, 'haproxy.provision ran\n'],
        [0, 'deepfiler.provision ran\n'],
      ],
    );
    const server = parseIni(readFileSync(join(sandbox.stateDir, 'server.ini'), 'utf8'))['server'] ?? {};
    assert.equal(server['mode'], 'active');
    assert.equal(server['role'], 'edge');
    assert.match(server['provisioned_at'] ?? '', ISO);
    assert.equal(server['last_operation'], journal.id);
    for (const product of ['haproxy', 'deepfiler']) {
      const got = (await runCommand(host, { command: 'product.get', product })) as {
        state: Record<string, string>;
      };
      assert.equal(got.state['status'], 'provisioned');
      assert.equal(got.state['last_operation'], journal.id);
    }
    assert.deepEqual(await runCommand(host, { command: 'operation.get', operationId: journal.id }), journal);
    assert.match(
      readFileSync(join(sandbox.stateDir, 'logs', `${journal.id}.log`), 'utf8'),
      /haproxy.provision ran/,
    );
  });

  it('server.provision without --role uses the recorded role', async () => {
    const journal = (await runCommand(host, { command: 'server.provision' })) as Journal;
    assert.deepEqual(journal.args, { role: 'edge' });
    assert.equal(journal.status, 'succeeded');
  });

  it('product.upgrade sets the version on success and passes it as $1', async () => {
    const journal = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '2.9.1',
    })) as Journal;
    assertJournal(journal, {
      command: 'product.upgrade',
      args: { product: 'haproxy', version: '2.9.1' },
      status: 'succeeded',
      steps: ['haproxy.upgrade'],
    });
    const got = (await runCommand(host, { command: 'product.get', product: 'haproxy' })) as {
      config: Record<string, string>;
      state: Record<string, string>;
    };
    assert.equal(got.state['version'], '2.9.1');
    assert.equal(got.state['status'], 'provisioned');
    assert.equal(got.config['maxconn'], '4096');
    assert.match(readFileSync(sandbox.hookEnvFile('haproxy', 'upgrade'), 'utf8'), /^args=2\.9\.1$/m);
  });

  it('heartbeat.get: mode, role, products, lock, lastOperation, uptime, load', async () => {
    const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
    assert.deepEqual(Object.keys(beat), [
      'mode',
      'role',
      'products',
      'lock',
      'lastOperation',
      'uptimeSeconds',
      'load',
    ]);
    assert.equal(beat.mode, 'active');
    assert.equal(beat.role, 'edge');
    assert.deepEqual(beat.products, {
      haproxy: { version: '2.9.1', status: 'provisioned' },
      deepfiler: { version: null, status: 'provisioned' },
    });
    assert.equal(beat.lock, null);
    assert.equal(beat.lastOperation?.command, 'product.upgrade');
    assert.equal(beat.lastOperation?.status, 'succeeded');
    assert.match(beat.lastOperation?.finishedAt ?? '', ISO);
    assert.deepEqual(Object.keys(beat.lastOperation ?? {}), ['id', 'command', 'status', 'finishedAt']);
    assert.ok(Number.isInteger(beat.uptimeSeconds) && beat.uptimeSeconds > 0);
    assert.equal(beat.load.length, 3);
    for (const load of beat.load) assert.ok(typeof load === 'number' && load >= 0);
  });

  it('heartbeat.appstack: healthy, degraded with the failing check, down', async () => {
    const check = (p: string) => `exec:${sandbox.hooksDir}/${p}.check.sh`;
    assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), {
      status: 'healthy',
      products: {
        haproxy: { status: 'healthy', checks: [{ check: check('haproxy'), ok: true }] },
        deepfiler: { status: 'healthy', checks: [{ check: check('deepfiler'), ok: true }] },
      },
    } satisfies AppstackAnswer);
    sandbox.setHealthy('deepfiler', false);
    assert.deepEqual(await runCommand(host, { command: 'heartbeat.appstack' }), {
      status: 'degraded',
      products: {
        haproxy: { status: 'healthy', checks: [{ check: check('haproxy'), ok: true }] },
        deepfiler: {
          status: 'unhealthy',
          checks: [{ check: check('deepfiler'), ok: false, detail: 'exited 1' }],
        },
      },
    } satisfies AppstackAnswer);
    sandbox.setHealthy('haproxy', false);
    const down = (await runCommand(host, { command: 'heartbeat.appstack' })) as AppstackAnswer;
    assert.equal(down.status, 'down');
    assert.equal(down.products['haproxy']?.status, 'unhealthy');
    sandbox.setHealthy('haproxy', true);
    sandbox.setHealthy('deepfiler', true);
  });

  it('reads never wait for the lock, and report its holder', async () => {
    const held = await holdLock(sandbox, host);
    try {
      const beat = (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;
      assert.deepEqual(beat.lock, {
        pid: held.journal.pid,
        operation: held.journal.id,
        command: 'product.upgrade',
        started_at: beat.lock?.started_at,
      });
      assert.match(beat.lock?.started_at ?? '', ISO);
      assert.equal(beat.lastOperation?.id, held.journal.id);
      assert.equal(beat.lastOperation?.status, 'running');
      assert.equal(beat.lastOperation?.finishedAt, null);
      assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'active' });
      const running = (await runCommand(host, {
        command: 'operation.get',
        operationId: held.journal.id,
      })) as Journal;
      assertJournal(running, {
        command: 'product.upgrade',
        args: { product: 'deepfiler', version: '9.9.9' },
        status: 'running',
        steps: [],
      });
      const got = (await runCommand(host, { command: 'product.get', product: 'deepfiler' })) as {
        state: Record<string, string>;
      };
      assert.equal(got.state['status'], 'upgrading');
    } finally {
      await held.release();
    }
  });
});
