// SPEC 5: a callback that finally fails is recorded in the result — `callback: { delivered:
// false, attempts, lastError }` — in the CLI's --json output for one server and for a fleet run,
// not only on stderr; and it never changes the operation's own exit code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { fleetArgv, runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { sandboxArgv, writeLocalInventory } from './sandbox-cli.ts';

describe('a failed callback in the --json output', () => {
  let sb: Sandbox;
  let receiver: CallbackReceiver;
  let dir: string;
  const on = (...argv: string[]) => sandboxArgv(sb, ...argv);

  before(async () => {
    sb = createSandbox();
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-cbout-'));
    // 400 is final (not retried): one attempt, then the failure is recorded.
    receiver = await startCallbackReceiver([], { fallback: { status: 400, body: 'no such hook' } });
  });
  after(async () => {
    sb.cleanup();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertFailed(callback: { delivered: boolean; attempts: number; lastError?: string }): void {
    assert.equal(callback.delivered, false);
    assert.equal(callback.attempts, 1);
    assert.match(callback.lastError ?? '', /400/);
  }

  it('one server: a quick command and a long one, the exit code their own', async () => {
    const set = await runCli(
      on('product.set', 'haproxy', 'maxconn=5', '--callback', `${receiver.url}/h`, '--json'),
    );
    assert.equal(set.code, 0, set.stdout + set.stderr);
    const answer = JSON.parse(set.stdout);
    assert.equal(answer.config.maxconn, '5');
    assertFailed(answer.callback);
    assert.match(set.stderr, /callback/);

    sb.behave('deepfiler', 'upgrade', { exit: 3 });
    const upgrade = await runCli(
      on('product.upgrade', 'deepfiler', '2.0', '--callback', `${receiver.url}/h`, '--json'),
    );
    assert.equal(upgrade.code, 4, upgrade.stdout + upgrade.stderr);
    const journal = JSON.parse(upgrade.stdout);
    assert.equal(journal.status, 'failed');
    assertFailed(journal.callback);

    const human = await runCli(on('product.set', 'haproxy', 'maxconn=6', '--callback', `${receiver.url}/h`));
    assert.equal(human.code, 0);
    assert.doesNotMatch(human.stdout, /delivered/, 'the human answer stays the answer; stderr says it');
  });

  it('a fleet run: the aggregated result carries it', async () => {
    const inventory = writeLocalInventory(join(dir, 'inventory.ini'), { a: sb });
    const run = await runCli(fleetArgv(inventory, 'all', 'heartbeat.get', '--callback', `${receiver.url}/h`));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assertFailed(JSON.parse(run.stdout).callback);
  });
});
