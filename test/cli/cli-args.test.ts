import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';

/** Runs a command line that must be refused before anything is reached; returns its one error line. */
async function refused(argv: string[]): Promise<string> {
  const run = await runCli(argv);
  assert.equal(run.code, 2, `${argv.join(' ')}: ${run.stdout}${run.stderr}`);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^error: INVALID_REQUEST: /);
  return lines[0]!;
}

describe('the command line: our own errors, flags that apply, bare help', () => {
  it('answers an unknown or misplaced flag with one line naming the command’s usage, not parseArgs’ text', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['heartbeat.get', '--frob'], /unknown option --frob; usage: cloudiq-bootstrap heartbeat\.get$/],
      [
        ['product.get', 'haproxy', '-z'],
        /unknown option -z; usage: cloudiq-bootstrap product\.get PRODUCT \[KEY\]$/,
      ],
      [
        ['product.get', 'haproxy', '--json=yes'],
        /--json takes no value; usage: cloudiq-bootstrap product\.get/,
      ],
      [['server.mode', '--host'], /--host needs a value; usage: cloudiq-bootstrap server\.mode \[MODE\]$/],
      [['--frob'], /unknown option --frob; see cloudiq-bootstrap --help$/],
    ];
    for (const [argv, expected] of cases) {
      const line = await refused(argv);
      assert.match(line, expected, argv.join(' '));
      assert.doesNotMatch(line, /positional argument|To specify|'--/, argv.join(' '));
    }
  });

  it('refuses a flag that does not apply to the command, instead of ignoring it', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['product.get', 'haproxy', '--wait-lock', '5'], /--wait-lock does not apply to product\.get/],
      [['server.mode', '--wait-lock', '5'], /--wait-lock does not apply to server\.mode/],
      [['product.get', 'haproxy', '--role', 'edge'], /--role does not apply to product\.get/],
      [['product.upgrade', 'p', '1', '--role', 'edge'], /--role does not apply to product\.upgrade/],
      [['product.set', 'p', 'k=v', '--detach'], /--detach does not apply to product\.set/],
      [['heartbeat.get', '--dry-run'], /--dry-run does not apply to heartbeat\.get/],
      [['heartbeat.get', '--operation-id', 'op_x'], /--operation-id does not apply/],
      [['heartbeat.get', '--max-errors', '2'], /--max-errors does not apply .*--inventory/],
      [['heartbeat.get', '--identity', '/k'], /--identity does not apply .*--host/],
      [['heartbeat.get', '-p', '2222'], /--port does not apply .*--host/],
      [['heartbeat.get', '--region', 'eu-west-1'], /--region does not apply .*--ssm/],
      [['serve', '--role', 'edge'], /--role does not apply to serve/],
      [['demo', '--inventory', 'x.ini'], /--inventory does not apply to demo/],
    ];
    for (const [argv, expected] of cases) assert.match(await refused(argv), expected, argv.join(' '));
  });

  it('prints the help and exits 0 with no arguments at all', async () => {
    const run = await runCli([]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^cloudiq-bootstrap — /);
    assert.match(run.stdout, /7 heartbeat\.appstack not healthy/);
  });
});
