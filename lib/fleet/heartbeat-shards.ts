/**
 * How a fleet heartbeat is split so that every host is read in every period (SPEC 7.2 v2):
 * shards of the inventory run side by side (a Step Functions Map), each an in-process fleet run
 * with its own concurrency and a time budget shorter than both the period and Lambda's 15
 * minutes. The fewest shards follow from the expected cost of one host — its measured or
 * configured read time, dead hosts costing their whole timeout — and the budget, less one host
 * timeout for the last host started, filled to `FILL` only. The plan then uses every shard the
 * reserved concurrency allows while that shortens a shard's work (a shard still has more hosts
 * than it reads at once): the assumed share of dead hosts is a guess, and the spare time is what
 * lets a period with more of them dead, or slower hosts, still read every host.
 *
 * What a period cannot read is the tail of each shard's order (a shard starts no host once less
 * than a host timeout is left), so that order is rotated from one period to the next
 * (`shardStart`): the hosts left unread are never the same ones period after period.
 */

/** The share of a shard's usable time that its expected work may fill. */
export const FILL = 0.8;

/** Lambda's limit on one invocation. */
export const LAMBDA_MAX_MS = 15 * 60_000;

export interface ShardInput {
  /** Hosts to read. */
  total: number;
  /** One healthy host's read (heartbeat.get + appstack), measured or configured. */
  perHostMs: number;
  /** One host's timeout: what a dead host costs. */
  hostTimeoutMs: number;
  /** The share of hosts expected dead (0.01 for 1 %). */
  deadShare: number;
  /** The schedule's period (5 minutes by default). */
  periodMs: number;
  /** Hosts one shard reads at once. */
  hostConcurrency: number;
  /** Shards that may run at once (below the heartbeat function's reserved concurrency). */
  maxShards: number;
}

export interface ShardPlan {
  /** Hosts per shard (the last may have fewer). */
  shardSize: number;
  shards: number;
  /** Hosts each shard reads at once (raised when `maxShards` would not otherwise do). */
  hostConcurrency: number;
  /** What a shard may spend: it starts no host once less than a host timeout is left. */
  budgetMs: number;
  /** The Map's MaxConcurrency: every shard at once. */
  mapConcurrency: number;
  /** The expected time of one shard. */
  expectedShardMs: number;
}

/** Splits `total` hosts into shards that each finish within the budget; throws when nothing can. */
export function planHeartbeatShards(input: ShardInput): ShardPlan {
  // A shard ends a fifth of the period early (at most a minute) to leave time for the report,
  // and never comes near Lambda's limit.
  const budgetMs = Math.min(input.periodMs - Math.min(60_000, input.periodMs / 5), LAMBDA_MAX_MS - 60_000);
  const usableMs = (budgetMs - input.hostTimeoutMs) * FILL;
  if (usableMs <= input.perHostMs) {
    throw new Error(`a host timeout of ${input.hostTimeoutMs} ms leaves no time in a ${budgetMs} ms shard`);
  }
  const expectedHostMs = (1 - input.deadShare) * input.perHostMs + input.deadShare * input.hostTimeoutMs;
  const maxShards = Math.max(1, input.maxShards);
  let hostConcurrency = Math.max(1, input.hostConcurrency);
  const perShard = Math.max(1, Math.floor((hostConcurrency * usableMs) / expectedHostMs));
  let shards = Math.max(1, Math.ceil(input.total / perShard));
  if (shards > maxShards) {
    shards = maxShards;
    hostConcurrency = Math.ceil((Math.ceil(input.total / shards) * expectedHostMs) / usableMs);
  } else {
    // Spare concurrency: more shards, each shorter, while a shard has more hosts than it reads
    // at once (past that, another shard would not shorten anything).
    shards = Math.max(shards, Math.min(maxShards, Math.ceil(input.total / hostConcurrency)));
  }
  const shardSize = Math.max(1, Math.ceil(input.total / shards));
  const count = input.total === 0 ? 0 : Math.ceil(input.total / shardSize);
  return {
    shardSize,
    shards: count,
    hostConcurrency,
    budgetMs,
    mapConcurrency: Math.max(1, Math.min(count, maxShards)),
    expectedShardMs: Math.ceil((shardSize * expectedHostMs) / hostConcurrency),
  };
}

/** The share of a shard by which its order moves from one period to the next: 1 - 1/φ. */
export const ROTATION = (3 - Math.sqrt(5)) / 2;

/**
 * How far a shard of `size` hosts moves its order each period: the stride nearest `ROTATION` of
 * it that is prime to it (every start comes in turn) and at most half of it (one period's tail
 * and the next's stay a stride apart either way round).
 */
export function rotationStride(size: number): number {
  if (size <= 1) return 0;
  const target = Math.max(1, Math.round(size * ROTATION));
  const half = Math.floor(size / 2);
  for (let distance = 0; ; distance += 1) {
    for (const stride of [target - distance, target + distance]) {
      if (stride >= 1 && stride <= half && gcd(stride, size) === 1) return stride;
    }
  }
}

/**
 * Where, in a shard of `size` hosts (in inventory order), period number `period` starts reading:
 * `period × stride` modulo `size`. Deterministic — the same period plans the same order, however
 * often its execution runs — and consecutive periods start `stride` apart, so the hosts one
 * period leaves unread (the end of its order) are read early in the next one: no host is left
 * unread twice in a row while a shard reads at least `size - stride` hosts (about 62 %) of its
 * hosts, and since the stride is prime to the size every host in turn comes last.
 */
export function shardStart(period: number, size: number): number {
  if (size <= 1 || !Number.isFinite(period)) return 0;
  const turn = ((Math.trunc(period) % size) + size) % size;
  return (turn * rotationStride(size)) % size;
}

/** `servers` in the order a shard reads them: from `start`, wrapping round to the beginning. */
export function rotated<T>(servers: readonly T[], start: number): T[] {
  if (servers.length === 0) return [];
  const at = ((start % servers.length) + servers.length) % servers.length;
  return [...servers.slice(at), ...servers.slice(0, at)];
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
