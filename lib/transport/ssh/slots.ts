/**
 * Channel slots of one connection: at most `limit` sessions open at once, first come first
 * served. The limit starts under OpenSSH's default `MaxSessions` (10) and is lowered when the
 * server refuses a channel, so a server configured lower is learnt instead of failed against.
 */
export class ChannelSlots {
  #limit: number;
  #inUse = 0;
  readonly #waiters: Array<{ grant: () => void; fail: (error: unknown) => void }> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, Math.floor(limit));
  }

  get inUse(): number {
    return this.#inUse;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Waits for a slot; rejects with the signal's reason when it aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#inUse < this.#limit && this.#waiters.length === 0) {
      this.#inUse += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** A slot now, if one is free and nobody waits; false otherwise. */
  tryAcquire(): boolean {
    if (this.#inUse >= this.#limit || this.#waiters.length > 0) return false;
    this.#inUse += 1;
    return true;
  }

  release(): void {
    this.#inUse -= 1;
    this.#pump();
  }

  /** The server refused a channel while `inUse` were held: it allows fewer. */
  lowerTo(limit: number): void {
    this.#limit = Math.max(1, Math.min(this.#limit, limit));
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Rejects every waiter (the connection is gone). */
  failAll(error: unknown): void {
    for (const waiter of this.#waiters.splice(0)) waiter.fail(error);
  }

  #pump(): void {
    while (this.#inUse < this.#limit && this.#waiters.length > 0) {
      this.#inUse += 1;
      this.#waiters.shift()!.grant();
    }
  }
}
