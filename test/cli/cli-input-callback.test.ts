// SPEC 2.6 and 5: `--callback URL` is request input. A URL the API's schema refuses up front
// (`callbackUrl` → 400 INVALID_REQUEST: not a URL, not http(s), credentials, https missing,
// a literal link-local or private address) is refused by the CLI the same way, exit 2, before
// anything runs: nothing on the host changes, no hook runs. The resolved-address check stays
// at delivery.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { fleetArgv, runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { sandboxArgv, writeLocalInventory } from './sandbox-cli.ts';

const REFUSED = [
  'notaurl',
  'https://169.254.169.254/x',
  'https://u:pw@example.com/',
  'ftp://x/',
  'http://example.com/hook',
  'https://10.0.0.1/hook',
  '',
  // Longer than the API's callbackUrl field takes (2048).
  `http://127.0.0.1/${'a'.repeat(2048)}`,
];

describe('--callback is checked before anything runs', () => {
  let sb: Sandbox;
  let dir: string;
  let receiver: CallbackReceiver;
  const on = (...argv: string[]) => sandboxArgv(sb, ...argv);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-cbin-'));
    receiver = await startCallbackReceiver();
  });
  afterEach(() => sb?.cleanup());
  after(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function refused(run: { code: number; stdout: string; stderr: string }, url: string): void {
    assert.equal(run.code, 2, `${url}: ${run.stdout}${run.stderr}`);
    const { error } = JSON.parse(run.stdout);
    assert.equal(error.code, 'INVALID_REQUEST', url);
    assert.match(error.message, /--callback/);
    assert.equal(error.details.option, '--callback');
  }

  it('server.mode MODE: refused with INVALID_REQUEST, the mode unchanged', async () => {
    sb = createSandbox();
    for (const url of REFUSED) {
      const run = await runCli(on('server.mode', 'active', '--callback', url, '--json'));
      refused(run, url);
      assert.equal(existsSync(join(sb.stateDir, 'server.ini')), false, `${url}: server.ini written`);
      const mode = await runCli(on('server.mode', '--json'));
      assert.deepEqual(JSON.parse(mode.stdout), { mode: 'maintenance' });
    }
  });

  it('product.set and a read: refused the same way, nothing written', async () => {
    sb = createSandbox();
    for (const url of REFUSED) {
      refused(await runCli(on('product.set', 'deepfiler', 'threads=7', '--callback', url, '--json')), url);
      refused(await runCli(on('heartbeat.get', '--callback', url, '--json')), url);
    }
    assert.equal(existsSync(join(sb.stateDir, 'products', 'deepfiler.ini')), false);
  });

  it('product.upgrade: refused before the hook runs', async () => {
    sb = createSandbox();
    const run = await runCli(on('product.upgrade', 'deepfiler', '2.0', '--callback', 'notaurl', '--json'));
    refused(run, 'notaurl');
    assert.equal(existsSync(join(sb.stateDir, 'operations')), false, 'no journal');
    assert.equal(existsSync(join(sb.root, 'out', 'deepfiler.upgrade.env')), false, 'the hook did not run');
  });

  it('a fleet run: refused before any target runs', async () => {
    sb = createSandbox();
    const inventory = writeLocalInventory(join(dir, 'inventory.ini'), { a: sb });
    const run = await runCli(
      fleetArgv(
        inventory,
        'all',
        'server.mode',
        'drain',
        '--callback',
        'https://169.254.169.254/latest/meta-data/',
      ),
    );
    refused(run, 'IMDS');
    assert.equal(existsSync(join(sb.stateDir, 'server.ini')), false);
  });

  it('the human output says which option', async () => {
    sb = createSandbox();
    const run = await runCli(on('server.mode', 'active', '--callback', 'ftp://x/'));
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: INVALID_REQUEST: --callback: .*scheme ftp: is not http\(s\)/);
  });

  it('an acceptable URL still runs and is delivered', async () => {
    sb = createSandbox();
    const before = receiver.requests.length;
    const run = await runCli(on('server.mode', 'active', '--callback', `${receiver.url}/cb`, '--json'));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { mode: 'active' });
    assert.equal(receiver.requests.length, before + 1);
    assert.match(readFileSync(join(sb.stateDir, 'server.ini'), 'utf8'), /mode\s*=\s*active/);
  });
});
