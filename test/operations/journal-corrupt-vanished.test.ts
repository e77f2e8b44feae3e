// The journal of an operation this process started vanishes (a hook deletes the state dir) or
// stops being a journal while the operation runs: the error says so, as HOOK_FAILED (the operation
// ran, its outcome is unknown), not INVALID_REQUEST "no operation" as though the caller had asked
// for an unknown id. operation.get of an id no operation has stays INVALID_REQUEST.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BootstrapError } from '../../lib/errors.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'cloudiq-bootstrap.js');

describe("an operation's journal lost while it runs", () => {
  let sandbox: Sandbox;
  beforeEach(() => {
    sandbox?.cleanup();
    sandbox = createSandbox();
  });
  after(() => sandbox.cleanup());

  /** The haproxy provision hook runs this shell text (the sandbox hook sources its behaviour file). */
  const hookDoes = (shell: string) =>
    writeFileSync(join(sandbox.root, 'behaviour', 'haproxy.provision'), `exit_code=0\n${shell}\n`);

  async function fails(): Promise<BootstrapError> {
    const error = await runCommand(sandbox.host(), { command: 'server.provision', role: 'edge' }).then(
      (answer) => assert.fail(`expected an error, got ${JSON.stringify(answer)}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError, String(error));
    return error;
  }

  it('a hook deletes the state dir: HOOK_FAILED saying the journal vanished', async () => {
    // The hook removes the state dir until it is gone (the caller's poll, reinstalling the host
    // code it finds missing, may put lib/ back in it while rm walks it, and rm then leaves the
    // dir), says so, then holds until the error is in hand, so that the runner (which goes on
    // writing once the hook ends) has not made the state dir again when the test looks. The
    // caller may answer as soon as the journal is gone, while rm still walks the rest of the dir:
    // the test looks once the hook has said the dir is gone.
    const release = join(sandbox.root, 'release');
    const removed = join(sandbox.root, 'removed');
    hookDoes(
      `n=0; while [ -e "$BOOTSTRAP_STATE_DIR" ] && [ "$n" -lt 200 ]; do rm -rf "$BOOTSTRAP_STATE_DIR" 2>/dev/null; n=$((n + 1)); done; [ -e "$BOOTSTRAP_STATE_DIR" ] || : > '${removed}'; i=0; while [ ! -e '${release}' ] && [ "$i" -lt 600 ]; do sleep 0.05; i=$((i + 1)); done`,
    );
    let gone = false;
    const error = await fails().finally(async () => {
      await waitFor('the hook to have removed the state dir', () => existsSync(removed)).catch(() => {});
      gone = !existsSync(sandbox.stateDir);
      writeFileSync(release, '');
    });
    assert.equal(gone, true, 'the state dir was made again before the error was answered');
    assert.equal(error.code, 'HOOK_FAILED', error.message);
    assert.match(error.message, /vanished while the operation ran/);
    assert.match(error.message, /op_[0-9A-Z]{26}/);
    assert.equal(error.details['lost'], 'vanished');
    assert.match(String(error.details['file']), /\/operations\/op_[0-9A-Z]{26}\.json$/);
  });

  it('a hook overwrites its journal with garbage: HOOK_FAILED saying it became unreadable', async () => {
    hookDoes('printf "garbage" > "$BOOTSTRAP_STATE_DIR/operations/$BOOTSTRAP_OPERATION_ID.json"; sleep 1');
    const error = await fails();
    assert.equal(error.code, 'HOOK_FAILED', error.message);
    assert.match(error.message, /became unreadable while the operation ran/);
    assert.equal(error.details['lost'], 'unreadable');
  });

  it('through the CLI: exit 4 with HOOK_FAILED, not exit 2', async () => {
    hookDoes('rm -rf "$BOOTSTRAP_STATE_DIR"; sleep 1');
    const result = await run(process.execPath, [CLI, 'server.provision', '--role', 'edge', '--json'], {
      env: { ...process.env, BOOTSTRAP_CONFIG: sandbox.configPath, BOOTSTRAP_STATE_DIR: sandbox.stateDir },
    }).then(
      () => assert.fail('expected a non-zero exit'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(result.code, 4, result.stdout);
    const body = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'HOOK_FAILED');
    assert.match(body.error.message, /vanished while the operation ran/);
  });

  it('operation.get of an id no operation has stays INVALID_REQUEST', async () => {
    await runCommand(sandbox.host(), { command: 'server.mode', mode: 'drain' });
    await assert.rejects(
      runCommand(sandbox.host(), { command: 'operation.get', operationId: 'op_nothing' }),
      {
        code: 'INVALID_REQUEST',
        message: /no operation op_nothing/,
      },
    );
  });
});
