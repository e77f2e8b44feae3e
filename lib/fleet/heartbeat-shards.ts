/**
 * How a fleet heartbeat is split so that every host is read in every period (SPEC 7.2 v2):
 * shards of the inventory run side by side (a Step Functions Map), each an in-process fleet run
 * with its own concurrency and a time budget shorter than both the period and Lambda's 15
 * minutes. The shard size follows from the expected cost of one host — its measured or
 * configured read time, dead hosts costing their whole timeout — and the budget, less one host
 * timeout for the last host started, filled to `FILL` only: a slow period (hosts slower than
 * measured, more of them dead) still reads every host.
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
  let hostConcurrency = Math.max(1, input.hostConcurrency);
  let perShard = Math.max(1, Math.floor((hostConcurrency * usableMs) / expectedHostMs));
  let shards = Math.max(1, Math.ceil(input.total / perShard));
  if (shards > input.maxShards) {
    shards = Math.max(1, input.maxShards);
    perShard = Math.ceil(input.total / shards);
    hostConcurrency = Math.ceil((perShard * expectedHostMs) / usableMs);
  }
  const shardSize = Math.max(1, Math.ceil(input.total / shards));
  return {
    shardSize,
    shards: input.total === 0 ? 0 : Math.ceil(input.total / shardSize),
    hostConcurrency,
    budgetMs,
    mapConcurrency: Math.max(1, Math.min(shards, input.maxShards)),
    expectedShardMs: Math.ceil((shardSize * expectedHostMs) / hostConcurrency),
  };
}
