// SPEC 5 v2 from the CLI: a fleet run whose aggregated result is over 1 MiB POSTs a body cut to
// 1 MiB — every target that did not succeed, then the succeeded ones that fit — with
// `truncated: true` and a `resultUrl`. The CLI serves nothing, so the whole result is written to a
// file of its own under the temp dir (TMPDIR) and `resultUrl` is that file's `file://` URL.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_RESULT_BYTES } from '../../lib/fleet/fit-result.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { runCli } from '../support/cli.ts';
import { Teardown } from '../support/teardown.ts';

/** Hosts that all read the same sandbox: each answers `product.get haproxy` with ~12 KiB. */
const READERS = 100;
const BROKEN = 3;

describe('a CLI fleet run whose result is over 1 MiB', () => {
  const teardown = new Teardown();
  let receiver: CallbackReceiver;
  let inventory: string;
  let tmp: string;

  before(async () => {
    receiver = await startCallbackReceiver([]);
    teardown.add(() => receiver.close());
    const dir = teardown.tempDir('cloudiq-fitcli-');
    tmp = teardown.tempDir('cloudiq-fitcli-tmp-');
    const sb = teardown.sandbox();
    // Three keys at SPEC 2.1's longest value: each host's answer is about 12 KiB.
    const set = await runCli([
      '--config',
      sb.configPath,
      '--state-dir',
      sb.stateDir,
      'product.set',
      'haproxy',
      `maxconn=${'1'.repeat(4096)}`,
      `frontend_port=${'2'.repeat(4096)}`,
      `motd=${'m'.repeat(4096)}`,
    ]);
    assert.equal(set.code, 0, set.stderr);
    const hosts = Array.from(
      { length: READERS },
      (_, i) =>
        `[host:web-${i + 1}]\ntransport = local\nconfig_path = ${sb.configPath}\nstate_dir = ${sb.stateDir}\n`,
    );
    // Hosts whose bootstrap.ini is missing: CONFIG_ERROR, targets that did not succeed.
    const broken = Array.from(
      { length: BROKEN },
      (_, i) =>
        `[host:broken-${i + 1}]\ntransport = local\nconfig_path = ${join(dir, 'none.ini')}\nstate_dir = ${sb.stateDir}\n`,
    );
    inventory = join(dir, 'inventory.ini');
    writeFileSync(inventory, [...hosts.slice(0, 50), ...broken, ...hosts.slice(50)].join('\n'));
  });
  after(() => teardown.run());

  /** product.get over every host, the whole fleet read, the result called back. */
  const readAll = () => [
    '--inventory',
    inventory,
    '--select',
    'all',
    'product.get',
    'haproxy',
    '--max-errors',
    '100%',
    '--max-concurrency',
    '20',
    '--callback',
    `${receiver.url}/hooks/fleet`,
    '--json',
  ];

  it('POSTs at most 1 MiB, truncated, with resultUrl a file:// URL of the whole result', async () => {
    const run = await runCli(readAll(), { TMPDIR: tmp });
    assert.equal(run.code, 4, run.stderr);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.callback.delivered, true, run.stderr);
    assert.equal(printed.targets.length, READERS + BROKEN, 'stdout has the whole result');

    assert.equal(receiver.requests.length, 1);
    const request = receiver.requests[0]!;
    const size = Buffer.byteLength(request.body);
    assert.ok(size <= MAX_RESULT_BYTES, `${size} bytes`);
    const body = JSON.parse(request.body);
    assert.equal(body.truncated, true);
    assert.deepEqual(body.summary, printed.summary);
    const failed = body.targets.filter((t: { status: string }) => t.status !== 'succeeded');
    assert.deepEqual(
      failed.map((t: { server: string; error: { code: string } }) => `${t.server}:${t.error.code}`),
      ['broken-1:CONFIG_ERROR', 'broken-2:CONFIG_ERROR', 'broken-3:CONFIG_ERROR'],
    );
    assert.ok(body.targets.length < READERS + BROKEN, 'succeeded targets were cut');

    // resultUrl reads the whole result: a file only its owner can read, in a directory of its own.
    assert.match(body.resultUrl, /^file:\/\//);
    const file = fileURLToPath(body.resultUrl);
    assert.equal(dirname(dirname(file)), tmp);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const { callback: _callback, ...whole } = printed;
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), whole);
    assert.match(run.stderr, new RegExp(`whole result.*${file.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('a whole result that cannot be kept: nothing POSTed, the callback recorded as failed, the exit code its own', async () => {
    receiver.requests.length = 0;
    const run = await runCli(readAll(), { TMPDIR: join(tmp, 'missing') });
    assert.equal(run.code, 4, run.stderr);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.callback.delivered, false);
    assert.equal(printed.callback.attempts, 0);
    assert.match(printed.callback.lastError, /could not be kept/);
    assert.equal(printed.summary.failed, BROKEN);
    assert.equal(receiver.requests.length, 0, 'no body without its resultUrl');
  });

  it('a result that fits is POSTed whole, and nothing is written', async () => {
    receiver.requests.length = 0;
    const run = await runCli(
      [
        '--inventory',
        inventory,
        '--select',
        'web-1,broken-1',
        'product.get',
        'haproxy',
        '--max-errors',
        '100%',
        '--callback',
        `${receiver.url}/hooks/fleet`,
        '--json',
      ],
      { TMPDIR: tmp },
    );
    assert.equal(run.code, 4, run.stderr);
    const body = JSON.parse(receiver.requests[0]!.body);
    assert.equal('truncated' in body, false);
    assert.equal('resultUrl' in body, false);
    const { callback: _callback, ...printed } = JSON.parse(run.stdout);
    assert.deepEqual(body, printed);
    assert.doesNotMatch(run.stderr, /whole result/);
  });
});
