/**
 * The one deadline/abort helper: every transport and the fleet engine give work a time limit and
 * pass the caller's cancellation on through it (after ky's `utils/timeout.ts`).
 */

export interface Deadline {
  /** How long the work may take; `undefined` sets no deadline (the caller's signal still applies). */
  ms: number | undefined;
  /** The caller's signal: its abort aborts the work's signal too. */
  signal?: AbortSignal | undefined;
  /** The error the work's signal aborts with, and the returned promise rejects with, at the deadline. */
  timeoutError: () => unknown;
  /** The reason the work's signal aborts with when the caller aborts; the caller's own reason by default. */
  abortReason?: ((reason: unknown) => unknown) | undefined;
  /**
   * Waits out the deadline on the caller's clock (a virtual clock in tests); a real timer otherwise.
   * Such a wait cannot be cancelled: it is ignored once the work has settled.
   */
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

/**
 * Runs `work` with a signal of its own that aborts when the caller's signal does or when the
 * deadline passes; at the deadline the result is `timeoutError()` even if the work ignores its
 * signal. Only the deadline races the work: a caller's abort reaches the work through its signal
 * and the work answers it (transports turn it into their own error). The timer and the listener
 * on the caller's signal are removed on every path.
 */
export function withDeadline<T>(deadline: Deadline, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const parent = deadline.signal;
  const onAbort = () =>
    controller.abort(deadline.abortReason ? deadline.abortReason(parent?.reason) : parent?.reason);
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  const cleanUp = () => {
    settled = true;
    clearTimeout(timer);
    parent?.removeEventListener('abort', onAbort);
  };
  return new Promise<T>((resolve, reject) => {
    const expire = () => {
      if (settled) return;
      cleanUp();
      const error = deadline.timeoutError();
      // Rejected before the abort, so a work that answers its signal at once cannot come first.
      reject(error);
      controller.abort(error);
    };
    if (parent?.aborted) onAbort();
    else parent?.addEventListener('abort', onAbort, { once: true });
    const { ms } = deadline;
    if (ms !== undefined) {
      if (deadline.sleep) void deadline.sleep(ms).then(expire);
      else timer = setTimeout(expire, ms);
    }
    let running: Promise<T>;
    try {
      running = work(controller.signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => {
        if (settled) return;
        cleanUp();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        cleanUp();
        reject(error);
      },
    );
  });
}
