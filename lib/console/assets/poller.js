/**
 * Refreshing on its own without piling up: the next run is scheduled only once the previous one
 * has ended (never two at once, however slow the API is), every `interval` ms while runs
 * succeed, and with the delay doubled after each failed run up to `maxInterval` (backoff), back
 * to `interval` after a success. `refreshNow()` runs at once unless a run is in flight.
 */

/**
 * @typedef {{ running: boolean, failures: number, nextDelay: number, lastError: unknown, stopped: boolean }} PollerState
 * @typedef {{
 *   task: () => Promise<unknown>,
 *   interval: number,
 *   maxInterval?: number,
 *   onState?: (state: PollerState) => void,
 *   timers?: { setTimeout: (fn: () => void, ms: number) => unknown, clearTimeout: (handle: unknown) => void },
 * }} PollerOptions
 */

/**
 * @param {PollerOptions} options
 * @returns {{ start(): void, stop(): void, refreshNow(): Promise<void>, state(): PollerState }}
 */
export function createPoller(options) {
  const timers = options.timers ?? {
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(/** @type {number} */ (handle)),
  };
  const maxInterval = options.maxInterval ?? options.interval * 32;
  /** @type {PollerState} */
  const state = {
    running: false,
    failures: 0,
    nextDelay: options.interval,
    lastError: undefined,
    stopped: true,
  };
  /** @type {unknown} */
  let timer;
  /** @type {Promise<void> | undefined} */
  let inFlight;

  const report = () => options.onState?.({ ...state });
  const schedule = () => {
    if (state.stopped) return;
    timers.clearTimeout(timer);
    timer = timers.setTimeout(() => {
      void runOnce();
    }, state.nextDelay);
  };
  const runOnce = () => {
    if (inFlight) return inFlight;
    timers.clearTimeout(timer);
    state.running = true;
    report();
    inFlight = (async () => {
      try {
        await options.task();
        state.failures = 0;
        state.lastError = undefined;
        state.nextDelay = options.interval;
      } catch (error) {
        state.failures += 1;
        state.lastError = error;
        state.nextDelay = Math.min(maxInterval, options.interval * 2 ** state.failures);
      } finally {
        state.running = false;
        inFlight = undefined;
        report();
        schedule();
      }
    })();
    return inFlight;
  };

  return {
    start() {
      if (!state.stopped) return;
      state.stopped = false;
      void runOnce();
    },
    stop() {
      state.stopped = true;
      timers.clearTimeout(timer);
      report();
    },
    refreshNow: () => runOnce(),
    state: () => ({ ...state }),
  };
}
