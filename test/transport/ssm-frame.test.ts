import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as ssmFrame from '../../lib/transport/ssm/frame.ts';
import { judgeInvocation } from '../../lib/transport/ssm/status.ts';

describe('SSM statuses', () => {
  const cases: Array<[string, string, string]> = [
    ['Pending', 'Pending', 'waiting'],
    ['InProgress', 'InProgress', 'waiting'],
    ['Delayed', 'Delayed', 'waiting'],
    ['Cancelling', 'Cancelling', 'waiting'],
    ['Success', 'Success', 'ran'],
    ['Failed', 'Failed', 'ran'],
    ['TimedOut', 'ExecutionTimedOut', 'TRANSPORT_TIMEOUT'],
    ['Failed', 'ExecutionTimedOut', 'TRANSPORT_TIMEOUT'],
    ['TimedOut', 'DeliveryTimedOut', 'UNREACHABLE'],
    ['TimedOut', 'Delivery Timed Out', 'UNREACHABLE'],
    ['TimedOut', '', 'TRANSPORT_TIMEOUT'],
    ['Failed', 'Undeliverable', 'UNREACHABLE'],
    ['Undeliverable', '', 'UNREACHABLE'],
    ['Failed', 'Terminated', 'UNREACHABLE'],
    ['Failed', 'InvalidPlatform', 'UNREACHABLE'],
    ['Failed', 'Invalid Platform', 'UNREACHABLE'],
    ['Failed', 'AccessDenied', 'AUTH_FAILED'],
    ['Cancelled', 'Cancelled', 'TRANSPORT_TIMEOUT'],
    ['SomethingNew', 'SomethingNew', 'waiting'],
  ];
  for (const [status, details, expected] of cases) {
    it(`${status} / ${details || '(none)'} → ${expected}`, () => {
      const verdict = judgeInvocation(status, details);
      assert.equal(verdict.kind === 'error' ? verdict.code : verdict.kind, expected);
    });
  }
});

describe('the AWS-RunShellScript wrapper', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-frame-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // As the agent runs it: the text in a script file, run with `sh -c FILE`.
  function runAsAgent(shell: string[], text: string) {
    const script = join(dir, '_script.sh');
    writeFileSync(script, text, { mode: 0o700 });
    const [command = 'sh', ...args] = shell;
    const result = spawnSync(command, [...args, '-c', script], {
      env: { PATH: process.env['PATH'], TMPDIR: dir },
      encoding: 'utf8',
      // A socket on stdin makes bash source ~/.bashrc as if run by rshd; the agent gives none.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { stdout: result.stdout, stderr: result.stderr, status: result.status };
  }

  const shells = [['dash'], ['bash'], ['busybox', 'sh']];
  for (const shell of shells) {
    it(`runs the program unchanged and frames small output under ${shell.join(' ')}`, () => {
      const program = "printf 'a {{ssm:x}} $HOME \\\\ \\n'\necho oops >&2\nexit 194\n";
      const ran = runAsAgent(shell, ssmFrame.wrapProgram(program));
      assert.equal(ran.stderr, '', 'the wrapper prints on stdout only');
      assert.equal(ran.status, 1, 'never 194, which reboots the node');
      assert.ok(ssmFrame.isWholeFrame(ran.stdout));
      assert.deepEqual(ssmFrame.parseFrame(ran.stdout), {
        kind: 'inline',
        exitCode: 194,
        outputBytes: 21,
        stderr: 'oops\n',
        stdout: 'a {{ssm:x}} $HOME \\ \n',
      });
      assert.deepEqual(readdirSync(dir), ['_script.sh']);
    });

    it(`pages a large output and cleans up under ${shell.join(' ')}`, () => {
      const ran = runAsAgent(shell, ssmFrame.wrapProgram('head -c 90000 /dev/urandom | od -An -tx1; exit 5'));
      const frame = ssmFrame.parseFrame(ran.stdout);
      assert.ok(frame?.kind === 'paged');
      assert.equal(frame.exitCode, 5);
      assert.equal(ssmFrame.isWholeFrame(ran.stdout), false);
      const pages = [frame.firstPage];
      for (let index = 1; index < ssmFrame.pageCount(frame); index++) {
        const page = ssmFrame.parsePage(
          runAsAgent(shell, ssmFrame.renderPageProgram(frame, index)).stdout,
          index,
        );
        assert.ok(page, `page ${index}`);
        pages.push(page);
      }
      const stdout = ssmFrame.assemblePages(frame, pages);
      assert.equal(Buffer.byteLength(stdout ?? ''), frame.outputBytes);
      assert.match(stdout ?? '', /^( [0-9a-f]{2}){16}\n/);
      assert.deepEqual(readdirSync(dir), ['_script.sh']);
    });
  }

  it('does not take a truncated excerpt for the whole answer', () => {
    const ran = runAsAgent(
      ['sh'],
      ssmFrame.wrapProgram('i=0; while [ $i -lt 400 ]; do echo "row $i"; i=$((i + 1)); done'),
    );
    assert.ok(ssmFrame.isWholeFrame(ran.stdout));
    assert.equal(ssmFrame.isWholeFrame(`${ran.stdout.slice(0, 2500)}\n---Output truncated---`), false);
    assert.equal(ssmFrame.isWholeFrame(ran.stdout.slice(0, -1)), false);
  });

  it('does not take a listed excerpt for the whole answer when SSM cut it, even when the sizes add up', () => {
    const header = (n: number) => `cloudiq-ssm/1 inline 0 ${n}\n\n`;
    // The one length where the first 2,500 characters and SSM's marker make the declared size.
    const n = 2_500 - header(2_500).length + '\n---Output truncated---'.length;
    const whole = `${header(n)}${'a'.repeat(n)}`;
    const cut = `${whole.slice(0, 2_500)}\n---Output truncated---`;
    assert.ok(ssmFrame.isWholeFrame(cut), 'by bytes alone the cut excerpt passes');
    assert.equal(ssmFrame.isWholeListedFrame(cut), false);
    const short = `${header(100)}${'a'.repeat(100)}`;
    assert.ok(ssmFrame.isWholeListedFrame(short));
  });
});
