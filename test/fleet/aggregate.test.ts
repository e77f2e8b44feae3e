import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import {
  commandArgs,
  createProgressPrinter,
  type FleetProgressEvent,
  formatProgress,
  type TargetReport,
  withCallbackOutcome,
} from '../../lib/fleet/index.ts';
import { upgradeResult } from '../support/fleet-results.ts';

const hookFailed = new BootstrapError('HOOK_FAILED', 'upgrade.sh exited 1', { exitCode: 1 }).toJSON();

function result(targets: TargetReport[]) {
  return upgradeResult(targets, '2025-01-02T03:04:05.000Z', '2025-01-02T03:05:06.500Z');
}

describe('aggregate', () => {
  it('builds SPEC 4 result, targets as given', () => {
    const out = result([
      { server: 'web-2', status: 'succeeded', result: { id: 'op_x' } },
      { server: 'web-1', status: 'failed', error: hookFailed },
      { server: 'web-3', status: 'skipped' },
    ]);
    assert.deepEqual(out, {
      operationId: 'op_01J0000000000000000000000',
      command: 'product.upgrade',
      args: { product: 'deepfiler', version: '3.2.1' },
      status: 'partial',
      startedAt: '2025-01-02T03:04:05.000Z',
      finishedAt: '2025-01-02T03:05:06.500Z',
      summary: { total: 3, succeeded: 1, failed: 1, unreachable: 0, skipped: 1 },
      targets: [
        { server: 'web-2', status: 'succeeded', result: { id: 'op_x' } },
        {
          server: 'web-1',
          status: 'failed',
          error: { code: 'HOOK_FAILED', message: 'upgrade.sh exited 1', details: { exitCode: 1 } },
        },
        { server: 'web-3', status: 'skipped' },
      ],
    });
  });

  it('is succeeded only when every target succeeded, failed when none did', () => {
    assert.equal(result([{ server: 'a', status: 'succeeded', result: null }]).status, 'succeeded');
    assert.equal(
      result([
        { server: 'a', status: 'unreachable', error: hookFailed },
        { server: 'b', status: 'skipped' },
      ]).status,
      'failed',
    );
    assert.equal(
      result([
        { server: 'a', status: 'succeeded', result: null },
        { server: 'b', status: 'unreachable', error: hookFailed },
      ]).status,
      'partial',
    );
  });

  it('calls a run over no target succeeded, with zero counts', () => {
    const out = result([]);
    assert.equal(out.status, 'succeeded');
    assert.deepEqual(out.summary, { total: 0, succeeded: 0, failed: 0, unreachable: 0, skipped: 0 });
  });

  it('adds the callback outcome without touching the status', () => {
    const out = result([{ server: 'a', status: 'failed', error: hookFailed }]);
    const delivered = withCallbackOutcome(out, { delivered: false, attempts: 5, lastError: 'HTTP 503' });
    assert.equal(delivered.status, 'failed');
    assert.deepEqual(delivered.callback, { delivered: false, attempts: 5, lastError: 'HTTP 503' });
    assert.equal(out.callback, undefined);
    assert.deepEqual(withCallbackOutcome(out, { delivered: true, attempts: 1 }).callback, {
      delivered: true,
      attempts: 1,
    });
  });

  it('shows a request’s arguments without its command and operation id', () => {
    assert.deepEqual(
      commandArgs({
        command: 'product.upgrade',
        product: 'deepfiler',
        version: '3.2.1',
        operationId: 'op_1',
      }),
      { product: 'deepfiler', version: '3.2.1' },
    );
    assert.deepEqual(commandArgs({ command: 'heartbeat.get' }), {});
  });
});

describe('progress lines', () => {
  it('says where the run is, what happened and why', () => {
    const events: FleetProgressEvent[] = [
      { type: 'started', server: 'web-1', position: 1, total: 10, phase: 'canary' },
      {
        type: 'finished',
        server: 'web-1',
        position: 1,
        total: 10,
        phase: 'canary',
        done: 1,
        report: { server: 'web-1', status: 'succeeded', result: {} },
      },
      { type: 'started', server: 'web-2', position: 2, total: 10, phase: 'fleet' },
      {
        type: 'finished',
        server: 'web-2',
        position: 2,
        total: 10,
        phase: 'fleet',
        done: 2,
        report: { server: 'web-2', status: 'failed', error: hookFailed },
      },
      { type: 'stopped', reason: 'MAX_ERRORS_EXCEEDED', errors: 1, maxErrors: 0 },
      { type: 'skipped', server: 'web-3', position: 3, total: 10, done: 3, reason: 'MAX_ERRORS_EXCEEDED' },
    ];
    const lines: string[] = [];
    const print = createProgressPrinter((line) => lines.push(line));
    for (const event of events) print(event);
    assert.deepEqual(lines, [
      '[ 0/10] web-1 started (canary)\n',
      '[ 1/10] web-1 succeeded\n',
      '[ 1/10] web-2 started\n',
      '[ 2/10] web-2 failed HOOK_FAILED: upgrade.sh exited 1\n',
      'stopping: 1 failed, more than maxErrors 0; running targets finish, the rest are skipped\n',
      '[ 3/10] web-3 skipped (max errors exceeded)\n',
    ]);
  });

  it('lets no control character of a host’s message reach the terminal, and keeps lines short', () => {
    const line = formatProgress({
      type: 'finished',
      server: 'evil\u001b[2J',
      position: 1,
      total: 1,
      phase: 'fleet',
      done: 1,
      report: {
        server: 'evil',
        status: 'unreachable',
        error: {
          code: 'UNREACHABLE',
          message: `refused\r\n\u001b]0;title\u0007${'x'.repeat(500)}`,
          details: {},
        },
      },
    });
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f]/);
    assert.ok(line.length < 260, line);
    assert.match(line, /^\[1\/1\] evil \[2J unreachable UNREACHABLE: refused \]0;title x+…$/);
  });
});
