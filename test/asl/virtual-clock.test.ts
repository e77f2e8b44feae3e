// The simulation's virtual clock: time advances only when no tracked work holds it still.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as realDelay } from 'node:timers/promises';
import { VirtualClock } from '../support/asl/virtual-clock.ts';

describe('virtual clock', () => {
  it('an invocation sleeping many times at once does not let time run while another waits on real I/O', async () => {
    const clock = new VirtualClock(0);
    let seenDuringIo: number | undefined;
    const sleeper = clock.sleeperForTrackedWork();
    // One invocation: three of its own reads sleeping side by side, 1 s each.
    const sleepy = clock.track(() => Promise.all([sleeper(1_000), sleeper(1_000), sleeper(1_000)]));
    // Another invocation doing real I/O (50 ms of real time) at the same moment.
    const busy = clock.track(async () => {
      await realDelay(50);
      seenDuringIo = clock.now();
    });
    await Promise.all([sleepy, busy]);
    assert.equal(seenDuringIo, 0, 'virtual time stood still while real work was in flight');
    assert.equal(clock.now(), 1_000);
  });

  it('sleeps of one invocation end in order, and time then moves on', async () => {
    const clock = new VirtualClock(0);
    const sleeper = clock.sleeperForTrackedWork();
    const ends: number[] = [];
    await clock.track(() =>
      Promise.all([300, 100, 200].map((ms) => sleeper(ms).then(() => ends.push(clock.now())))),
    );
    assert.deepEqual(ends, [100, 200, 300]);
  });
});
