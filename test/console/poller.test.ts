// The console's refresh loop (lib/console/assets/poller.js) on node's mock timers: never two runs
// at once however slow a run is, backoff doubling while runs fail and reset by a success, and a
// stopped poller schedules nothing.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createPoller } from '../../lib/console/assets/poller.js';

/** Lets pending promise callbacks run (mock timers do not move microtasks). */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

function mockTimers(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return {
    setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  };
}

describe('createPoller', () => {
  it('runs at start, then every interval after the previous run ended', async (t) => {
    const timers = mockTimers(t);
    let runs = 0;
    const poller = createPoller({ task: async () => void runs++, interval: 1000, timers });
    poller.start();
    await settle();
    assert.equal(runs, 1);
    t.mock.timers.tick(999);
    await settle();
    assert.equal(runs, 1);
    t.mock.timers.tick(1);
    await settle();
    assert.equal(runs, 2);
    poller.stop();
    t.mock.timers.tick(10_000);
    await settle();
    assert.equal(runs, 2, 'a stopped poller runs nothing');
  });

  it('never overlaps: a slow run delays the next, and refreshNow joins the run in flight', async (t) => {
    const timers = mockTimers(t);
    let active = 0;
    let most = 0;
    let runs = 0;
    const finishers: (() => void)[] = [];
    const poller = createPoller({
      task: () =>
        new Promise<void>((resolve) => {
          runs++;
          active++;
          most = Math.max(most, active);
          finishers.push(() => {
            active--;
            resolve();
          });
        }),
      interval: 100,
      timers,
    });
    poller.start();
    await settle();
    const joined = poller.refreshNow();
    t.mock.timers.tick(5_000);
    await settle();
    assert.equal(runs, 1, 'nothing starts while a run is in flight');
    finishers.shift()?.();
    await joined;
    await settle();
    t.mock.timers.tick(100);
    await settle();
    assert.equal(runs, 2);
    assert.equal(most, 1);
    poller.stop();
    finishers.shift()?.();
  });

  it('backs off while runs fail (doubling up to maxInterval) and resets after a success', async (t) => {
    const timers = mockTimers(t);
    const delays: number[] = [];
    let failing = true;
    const poller = createPoller({
      task: async () => {
        if (failing) throw new Error('502');
      },
      interval: 1000,
      maxInterval: 5000,
      timers,
      onState: (state) => {
        if (!state.running && !state.stopped) delays.push(state.nextDelay);
      },
    });
    poller.start();
    await settle();
    for (const wait of [2000, 4000, 5000, 5000]) {
      t.mock.timers.tick(wait);
      await settle();
    }
    assert.deepEqual(delays, [2000, 4000, 5000, 5000, 5000]);
    assert.equal(poller.state().failures, 5);
    failing = false;
    t.mock.timers.tick(5000);
    await settle();
    assert.equal(poller.state().nextDelay, 1000);
    assert.equal(poller.state().failures, 0);
    poller.stop();
  });
});
