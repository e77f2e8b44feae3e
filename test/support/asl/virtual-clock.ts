/**
 * A virtual clock for Wait states, Retry intervals and execution timeouts: time advances at
 * once, never by real sleeping, but in order. Timers fire only when no tracked work (a handler
 * invocation, an S3 call) is in flight and every microtask has run, so the earliest timer is
 * always the next thing to happen, exactly as on a real clock with instant handlers.
 */
interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/** Virtual time in milliseconds since the epoch, with ordered sleeps. */
export class VirtualClock {
  #now: number;
  #timers: Timer[] = [];
  #seq = 0;
  #busy = 0;
  #scheduled = false;

  constructor(startMs = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  iso(): string {
    return new Date(this.#now).toISOString();
  }

  /** Resolves once virtual time has advanced by `ms`; returns a cancel function via `timer`. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timer(ms, resolve);
    });
  }

  /** Calls `fire` after `ms` of virtual time; the result cancels it. */
  timer(ms: number, fire: () => void): () => void {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fire };
    this.#insert(timer);
    this.#schedule();
    return () => {
      const at = this.#timers.indexOf(timer);
      if (at !== -1) this.#timers.splice(at, 1);
    };
  }

  /** Runs real asynchronous work; virtual time stands still until it settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#busy++;
    try {
      return await work();
    } finally {
      this.#busy--;
      this.#schedule();
    }
  }

  /**
   * One piece of tracked work (a handler invocation) and its sleeper. `run` holds time still while
   * the work is in flight and not asleep: while any of its sleeps is pending it no longer does,
   * however many it runs at once (a shard reading ten hosts side by side is idle once, not ten
   * times — counting each sleep would let time run on while another invocation waits on real I/O).
   * Once the work has settled, the sleeps it left pending (a host's timeout, raced against a read
   * that answered first and never cancelled) neither hold time nor let it go: the work's hold was
   * given back once, when it settled.
   */
  trackedWork(): { sleep: (ms: number) => Promise<void>; run: <T>(work: () => Promise<T>) => Promise<T> } {
    let running = false;
    let sleeping = 0;
    const holds = () => running && sleeping === 0;
    const change = (update: () => void) => {
      const held = holds();
      update();
      if (held === holds()) return;
      if (held) {
        this.#busy--;
        this.#schedule();
      } else this.#busy++;
    };
    return {
      sleep: async (ms) => {
        change(() => sleeping++);
        try {
          await this.sleep(ms);
        } finally {
          change(() => sleeping--);
        }
      },
      run: async (work) => {
        change(() => {
          running = true;
        });
        try {
          return await work();
        } finally {
          change(() => {
            running = false;
          });
        }
      },
    };
  }

  /** Timers kept in (at, seq) order; binary search keeps 10,000 concurrent waits cheap. */
  #insert(timer: Timer): void {
    const timers = this.#timers;
    let lo = 0;
    let hi = timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (timers[mid]!.at <= timer.at) lo = mid + 1;
      else hi = mid;
    }
    timers.splice(lo, 0, timer);
  }

  #schedule(): void {
    if (this.#scheduled || this.#timers.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#advance();
    });
  }

  #advance(): void {
    if (this.#busy > 0 || this.#timers.length === 0) return;
    const at = this.#timers[0]!.at;
    this.#now = Math.max(this.#now, at);
    // Fire every timer due at this instant, then let their continuations run before the next.
    while (this.#timers.length > 0 && this.#timers[0]!.at <= at) this.#timers.shift()!.fire();
    this.#schedule();
  }
}

/** A small seedable PRNG (mulberry32) so that jitter and States.MathRandom are reproducible. */
export function createRandom(seed = 1): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
