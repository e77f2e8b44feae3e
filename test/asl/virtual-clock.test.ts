// The simulation's virtual clock: time advances only when no tracked work holds it still.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as realDelay } from 'node:timers/promises';
import { VirtualClock } from '../support/asl/virtual-clock.ts';

describe('virtual clock', () => {
  it('an invocation sleeping many times at once does not let time run while another waits on real I/O', async () => {
    const clock = new VirtualClock(0);
    let seenDuringIo: number | undefined;
    const { sleep, run } = clock.trackedWork();
    // One invocation: three of its own reads sleeping side by side, 1 s each.
    const sleepy = run(() => Promise.all([sleep(1_000), sleep(1_000), sleep(1_000)]));
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
    const { sleep, run } = clock.trackedWork();
    const ends: number[] = [];
    await run(() => Promise.all([300, 100, 200].map((ms) => sleep(ms).then(() => ends.push(clock.now())))));
    assert.deepEqual(ends, [100, 200, 300]);
  });

  it('sleeps an invocation leaves pending when it ends do not let time run while another waits on real I/O', async () => {
    // A shard's last reads each raced a 30 s timeout that is never cancelled: the invocation ends
    // with those sleeps pending. Its hold was given back when it ended; the sleeps must not give it
    // back again (time ran on through another invocation's real I/O until they had all fired).
    const clock = new VirtualClock(0);
    const ended = clock.trackedWork();
    await ended.run(async () => {
      void ended.sleep(30_000);
      await ended.sleep(1_000);
    });
    assert.equal(clock.now(), 1_000);
    let seenDuringIo: number | undefined;
    await clock.trackedWork().run(async () => {
      await realDelay(50);
      seenDuringIo = clock.now();
    });
    assert.equal(seenDuringIo, 1_000, 'virtual time stood still while real work was in flight');
  });
});
