// SPEC 2.5 and 5: every operation has one id. A quick change (product.set, server.mode MODE)
// writes it on the host (`last_operation`), the CLI prints it, and the callback carries the
// same one (`Idempotency-Key` and the body's `operationId`), as the long operations do.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { runCommand } from '../../lib/operations/index.ts';
import type { RunOptions } from '../../lib/operations/types.ts';
import { sandboxArgv, sandboxPool, writeLocalInventory } from '../cli/sandbox-cli.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { fleetArgv, runCli } from '../support/cli.ts';

/** `last_operation` of an INI state file. */
function lastOperation(path: string): string | undefined {
  return /^last_operation\s*=\s*(\S+)/m.exec(readFileSync(path, 'utf8'))?.[1];
}

describe('one id per quick operation: host, CLI output and callback', () => {
  let receiver: CallbackReceiver;
  let dir: string;
  const { sandbox, cleanup } = sandboxPool();
  const on = sandboxArgv;

  before(async () => {
    receiver = await startCallbackReceiver();
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-opid-'));
  });
  afterEach(cleanup);
  after(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The one callback received since `from`: its Idempotency-Key, checked against its body's operationId. */
  function callbackId(from: number): string {
    assert.equal(receiver.requests.length, from + 1, 'one callback');
    const request = receiver.requests[from]!;
    const key = request.headers['idempotency-key'];
    assert.equal(typeof key, 'string');
    assert.equal(JSON.parse(request.body).operationId, key);
    return key as string;
  }

  it('product.set --callback: last_operation, the printed state and the callback agree', async () => {
    const sb = sandbox();
    const from = receiver.requests.length;
    const run = await runCli(
      on(sb, 'product.set', 'deepfiler', 'threads=7', '--callback', `${receiver.url}/cb`, '--json'),
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const id = callbackId(from);
    assert.match(id, /^op_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(lastOperation(join(sb.stateDir, 'products', 'deepfiler.ini')), id);
    assert.equal(JSON.parse(run.stdout).state.last_operation, id);
  });

  it('server.mode MODE with [server] callback_url: server.ini and the callback agree', async () => {
    const sb = sandbox({ serverExtra: `callback_url = ${receiver.url}/from-ini\n` });
    const from = receiver.requests.length;
    const run = await runCli(on(sb, 'server.mode', 'drain', '--json'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(receiver.requests[from]?.path, '/from-ini');
    assert.equal(lastOperation(join(sb.stateDir, 'server.ini')), callbackId(from));
  });

  it('a fleet run of product.set: every host, the result and the callback share the run id', async () => {
    const a = sandbox();
    const b = sandbox();
    const inventory = writeLocalInventory(join(dir, 'inventory.ini'), { h0: a, h1: b });
    const from = receiver.requests.length;
    const run = await runCli([
      ...fleetArgv(inventory, 'all', 'product.set', 'haproxy', 'maxconn=9'),
      '--callback',
      `${receiver.url}/fleet`,
    ]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const result = JSON.parse(run.stdout);
    const id = callbackId(from);
    assert.equal(result.operationId, id);
    for (const sb of [a, b]) assert.equal(lastOperation(join(sb.stateDir, 'products', 'haproxy.ini')), id);
    for (const target of result.targets) assert.equal(target.result.state.last_operation, id);
  });

  it("runCommand: a quick change records the caller's operation id", async () => {
    const sb = sandbox();
    const options = { operationId: 'op_01J0000000000000000000TEST' } as RunOptions;
    const set = (await runCommand(
      sb.host(),
      { command: 'product.set', product: 'deepfiler', values: { threads: '3' } },
      options,
    )) as { state: { last_operation: string } };
    assert.equal(set.state.last_operation, 'op_01J0000000000000000000TEST');
    await runCommand(sb.host(), { command: 'server.mode', mode: 'active' }, options);
    assert.equal(lastOperation(join(sb.stateDir, 'server.ini')), 'op_01J0000000000000000000TEST');
    // Without one, each gets its own.
    const own = (await runCommand(
      sb.host(),
      { command: 'product.set', product: 'deepfiler', values: { threads: '4' } },
      {},
    )) as { state: { last_operation: string } };
    assert.match(own.state.last_operation, /^op_[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
