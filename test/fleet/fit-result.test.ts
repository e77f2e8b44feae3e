import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES, type ErrorBody } from '../../lib/errors.ts';
import type { FleetResult, TargetReport } from '../../lib/fleet/aggregate.ts';
import { fitResult, MAX_RESULT_BYTES } from '../../lib/fleet/fit-result.ts';
import { upgradeResult } from '../support/fleet-results.ts';

const URL = 'https://runs.s3.eu-west-1.amazonaws.com/runs/op/result.json?X-Amz-Signature=abc';

function result(targets: TargetReport[]): FleetResult {
  return upgradeResult(targets, '2026-01-02T03:04:05.000Z', '2026-01-02T03:09:05.000Z');
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

const text = fc.string({ unit: 'grapheme', maxLength: 300 });
const errorBody: fc.Arbitrary<ErrorBody> = fc.record({
  code: fc.constantFrom(...ERROR_CODES),
  message: text,
  details: fc.dictionary(fc.string({ maxLength: 8 }), text, { maxKeys: 3 }),
});
const target: fc.Arbitrary<TargetReport> = fc.oneof(
  fc.record({
    server: fc.string({ minLength: 1, maxLength: 12 }),
    status: fc.constant('succeeded' as const),
    result: fc.record({ output: text }),
  }),
  fc.record({
    server: fc.string({ minLength: 1, maxLength: 12 }),
    status: fc.constantFrom('failed' as const, 'unreachable' as const),
    error: errorBody,
  }),
  fc.record({ server: fc.string({ minLength: 1, maxLength: 12 }), status: fc.constant('skipped' as const) }),
);

/** The smallest body a truncated result can have: no target at all. */
const shellBytes = (r: FleetResult) => bytes({ ...r, targets: [], truncated: true, resultUrl: URL });

/** Whether `part` lists targets of `whole` (by index), in the same order. */
function isSubsequence(part: readonly TargetReport[], whole: readonly TargetReport[]): boolean {
  let at = 0;
  for (const entry of part) {
    while (at < whole.length && (whole[at]?.server !== entry.server || whole[at]?.status !== entry.status))
      at += 1;
    if (at === whole.length) return false;
    at += 1;
  }
  return true;
}

describe('fitResult (SPEC 5 v2: bodies at most 1 MiB)', () => {
  it('a result that fits is answered as it is: no truncated, no resultUrl', () => {
    const r = result([{ server: 'web-1', status: 'succeeded', result: { ok: true } }]);
    assert.equal(fitResult(r, { resultUrl: URL }), r);
    assert.equal(fitResult(r, { resultUrl: URL, maxBytes: bytes(r) }), r);
  });

  it('10,000 targets with 4 KiB of output each: every failure kept, the succeeded prefix that fits, under 1 MiB', () => {
    const output = 'x'.repeat(4096);
    const targets: TargetReport[] = Array.from({ length: 10_000 }, (_, i) =>
      i % 100 === 7
        ? {
            server: `web-${i}`,
            status: 'failed',
            error: { code: 'HOOK_FAILED', message: 'upgrade.sh exited 1', details: { exitCode: 1 } },
          }
        : { server: `web-${i}`, status: 'succeeded', result: { output } },
    );
    const r = result(targets);
    const fitted = fitResult(r, { resultUrl: URL });
    const body = bytes(fitted);
    assert.ok(body <= MAX_RESULT_BYTES, `${body} bytes`);
    assert.equal(fitted.truncated, true);
    assert.equal(fitted.resultUrl, URL);
    assert.deepEqual(fitted.summary, r.summary);
    const failed = fitted.targets.filter((t) => t.status === 'failed');
    assert.deepEqual(
      failed,
      targets.filter((t) => t.status === 'failed'),
    );
    const succeeded = fitted.targets.filter((t) => t.status === 'succeeded');
    assert.deepEqual(succeeded, targets.filter((t) => t.status === 'succeeded').slice(0, succeeded.length));
    // The next succeeded target would not have fitted.
    assert.ok(body + 4096 > MAX_RESULT_BYTES);
    assert.ok(succeeded.length > 200);
  });

  it('failures that do not fit whole lose their details, then long messages, keeping server, status and code', () => {
    const targets: TargetReport[] = Array.from({ length: 50 }, (_, i) => ({
      server: `db-${i}`,
      status: 'unreachable',
      error: { code: 'UNREACHABLE', message: 'é'.repeat(1000), details: { stderr: 'y'.repeat(2000) } },
    }));
    const r = result(targets);
    const withoutDetails = fitResult(r, { resultUrl: URL, maxBytes: shellBytes(r) + 50 * 2200 });
    for (const t of withoutDetails.targets) {
      assert.ok('error' in t);
      assert.deepEqual(t.error, { code: 'UNREACHABLE', message: 'é'.repeat(1000), details: {} });
    }
    const cutMessages = fitResult(r, { resultUrl: URL, maxBytes: shellBytes(r) + 50 * 600 });
    assert.equal(cutMessages.targets.length, 50);
    for (const t of cutMessages.targets) {
      assert.ok('error' in t);
      assert.equal(t.error.message, `${'é'.repeat(200)}…`);
    }
    const codesOnly = fitResult(r, { resultUrl: URL, maxBytes: shellBytes(r) + 50 * 120 });
    assert.equal(codesOnly.targets.length, 50);
    assert.ok(bytes(codesOnly) <= shellBytes(r) + 50 * 120);
    for (const [i, t] of codesOnly.targets.entries()) {
      assert.deepEqual(t, {
        server: `db-${i}`,
        status: 'unreachable',
        error: { code: 'UNREACHABLE', message: '', details: {} },
      });
    }
  });

  it('refuses only a maxBytes below the result without any target', () => {
    const r = result([{ server: 'web-1', status: 'succeeded', result: { output: 'x'.repeat(5000) } }]);
    assert.ok(fitResult(r, { resultUrl: URL, maxBytes: shellBytes(r) }).targets.length === 0);
    assert.throws(() => fitResult(r, { resultUrl: URL, maxBytes: shellBytes(r) - 1 }), RangeError);
  });

  it('property: the body is at most maxBytes, and keeps what SPEC 5 says, in selection order', () => {
    fc.assert(
      fc.property(fc.array(target, { maxLength: 60 }), fc.nat({ max: 20_000 }), (targets, extra) => {
        const r = result(targets);
        const maxBytes = shellBytes(r) + extra;
        const fitted = fitResult(r, { resultUrl: URL, maxBytes });
        assert.ok(bytes(fitted) <= maxBytes);
        if (bytes(r) <= maxBytes) {
          assert.equal(fitted, r);
          return;
        }
        assert.equal(fitted.truncated, true);
        assert.equal(fitted.resultUrl, URL);
        assert.deepEqual(fitted.summary, r.summary);
        assert.equal(fitted.status, r.status);
        assert.ok(isSubsequence(fitted.targets, r.targets));
        const unsucceeded = r.targets.filter((t) => t.status !== 'succeeded');
        const keptUnsucceeded = fitted.targets.filter((t) => t.status !== 'succeeded');
        const keptSucceeded = fitted.targets.filter((t) => t.status === 'succeeded');
        // Succeeded targets only once every failure is listed, and then a prefix of them.
        if (keptSucceeded.length > 0) assert.equal(keptUnsucceeded.length, unsucceeded.length);
        assert.deepEqual(
          keptSucceeded,
          r.targets.filter((t) => t.status === 'succeeded').slice(0, keptSucceeded.length),
        );
        // Failures keep server, status and code; whole when they all fit whole.
        const wholeFailures =
          bytes({ ...r, targets: unsucceeded, truncated: true, resultUrl: URL }) <= maxBytes;
        if (wholeFailures) assert.deepEqual(keptUnsucceeded, unsucceeded);
        keptUnsucceeded.forEach((kept, i) => {
          const original = unsucceeded[i];
          assert.equal(kept.server, original?.server);
          assert.equal(kept.status, original?.status);
          if ('error' in kept && original && 'error' in original)
            assert.equal(kept.error.code, original.error.code);
        });
        // Nothing left out would have fitted in place of the first succeeded one dropped.
        const next = r.targets.filter((t) => t.status === 'succeeded')[keptSucceeded.length];
        if (next && keptUnsucceeded.length === unsucceeded.length) {
          assert.ok(bytes({ ...fitted, targets: [...fitted.targets, next] }) > maxBytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: the size is counted exactly: a limit of exactly k targets keeps exactly k', () => {
    const small = fc.record({
      server: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }),
      status: fc.constant('succeeded' as const),
      result: fc.constant({}),
    });
    fc.assert(
      fc.property(fc.array(small, { minLength: 2, maxLength: 150 }), fc.nat(), (targets, pick) => {
        const r = result(targets);
        const k = pick % targets.length;
        const exact = bytes({ ...r, targets: targets.slice(0, k), truncated: true, resultUrl: URL });
        fc.pre(bytes(r) > exact);
        const fitted = fitResult(r, { resultUrl: URL, maxBytes: exact });
        assert.equal(fitted.targets.length, k);
        assert.equal(bytes(fitted), exact);
      }),
      { numRuns: 300 },
    );
  });
});
