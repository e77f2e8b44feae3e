import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { withDeadline } from '../../lib/time/deadline.ts';

/** Timers of this process that keep it alive (the helper's timer would be one of them). */
function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
}

/** A work that settles only when its signal aborts, with the signal's reason. */
function untilAborted(seen: AbortSignal[]): (signal: AbortSignal) => Promise<never> {
  return (signal) => {
    seen.push(signal);
    return new Promise((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    );
  };
}

describe('withDeadline', () => {
  it('at the deadline rejects with the given error and aborts the work with it', async () => {
    const error = new Error('too slow');
    const seen: AbortSignal[] = [];
    await assert.rejects(
      withDeadline({ ms: 20, timeoutError: () => error }, untilAborted(seen)),
      (thrown) => thrown === error,
    );
    assert.equal(seen[0]?.aborted, true);
    assert.equal(seen[0]?.reason, error);
  });

  it('a work that ignores its signal still loses to the deadline', async () => {
    const error = new Error('too slow');
    let workSignal: AbortSignal | undefined;
    const started = Date.now();
    await assert.rejects(
      withDeadline({ ms: 20, timeoutError: () => error }, async (signal) => {
        workSignal = signal;
        await delay(60_000, undefined, { ref: false });
        return 'late';
      }),
      (thrown) => thrown === error,
    );
    assert.ok(Date.now() - started < 50_000);
    assert.equal(workSignal?.aborted, true);
  });

  it("passes the caller's abort to the work with the caller's reason, or the mapped one", async () => {
    const caller = new AbortController();
    const seen: AbortSignal[] = [];
    const plain = withDeadline(
      { ms: 60_000, signal: caller.signal, timeoutError: () => 'timeout' },
      untilAborted(seen),
    );
    const mapped = withDeadline(
      {
        ms: undefined,
        signal: caller.signal,
        timeoutError: () => 'timeout',
        abortReason: (reason) => `mapped ${String(reason)}`,
      },
      untilAborted(seen),
    );
    caller.abort('stop');
    await assert.rejects(plain, (thrown) => thrown === 'stop');
    await assert.rejects(mapped, (thrown) => thrown === 'mapped stop');
    assert.equal(seen[0]?.reason, 'stop');
    assert.equal(seen[1]?.reason, 'mapped stop');
  });

  it('hands an already aborted caller signal on before the work starts', async () => {
    const caller = new AbortController();
    caller.abort('gone');
    let abortedAtStart: boolean | undefined;
    const value = await withDeadline(
      { ms: 1000, signal: caller.signal, timeoutError: () => 'timeout' },
      (signal) => {
        abortedAtStart = signal.aborted;
        return Promise.resolve(signal.reason);
      },
    );
    assert.equal(abortedAtStart, true);
    assert.equal(value, 'gone');
  });

  it('a work finishing first clears the timer and the listener on the caller signal', async () => {
    const before = pendingTimers();
    const caller = new AbortController();
    let signalOfWork: AbortSignal | undefined;
    const value = await withDeadline(
      { ms: 3_600_000, signal: caller.signal, timeoutError: () => 'timeout' },
      (signal) => {
        signalOfWork = signal;
        return Promise.resolve(42);
      },
    );
    assert.equal(value, 42);
    assert.equal(pendingTimers(), before, 'the hour-long timer is gone');
    caller.abort('later');
    assert.equal(signalOfWork?.aborted, false, 'a later abort of the caller no longer reaches the work');
  });

  it('a work failing first clears the timer and passes its error on', async () => {
    const before = pendingTimers();
    const error = new Error('refused');
    await assert.rejects(
      withDeadline({ ms: 3_600_000, timeoutError: () => 'timeout' }, () => Promise.reject(error)),
      (thrown) => thrown === error,
    );
    await assert.rejects(
      withDeadline({ ms: 3_600_000, timeoutError: () => 'timeout' }, () => {
        throw error;
      }),
      (thrown) => thrown === error,
    );
    assert.equal(pendingTimers(), before);
  });

  it("waits on the caller's clock when given one, and ignores it once the work is done", async () => {
    const wakes: Array<() => void> = [];
    const sleep = (ms: number) => {
      assert.equal(ms, 500);
      return new Promise<void>((resolve) => wakes.push(resolve));
    };
    const before = pendingTimers();
    const seen: AbortSignal[] = [];
    const slow = withDeadline({ ms: 500, timeoutError: () => 'virtual timeout', sleep }, untilAborted(seen));
    let quickSignal: AbortSignal | undefined;
    const quick = withDeadline({ ms: 500, timeoutError: () => 'virtual timeout', sleep }, (signal) => {
      quickSignal = signal;
      return Promise.resolve('done');
    });
    assert.equal(await quick, 'done');
    assert.equal(pendingTimers(), before, 'no real timer involved');
    for (const wake of wakes) wake();
    await assert.rejects(slow, (thrown) => thrown === 'virtual timeout');
    assert.equal(seen[0]?.reason, 'virtual timeout');
    assert.equal(quickSignal?.aborted, false, 'a finished work is not aborted by its late deadline');
  });
});
