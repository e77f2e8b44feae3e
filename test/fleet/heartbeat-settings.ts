import fc from 'fast-check';
import type { HeartbeatSettings } from '../../lib/fleet/steps/heartbeat.ts';

/**
 * The heartbeat settings the tests plan with: the deployment's defaults (1 s a host, 30 s
 * timeouts, 1 % dead, a 5-minute period, 10 hosts at once a shard) and 18 shards at most, with
 * `overrides`.
 */
export function heartbeatSettings(overrides: Partial<HeartbeatSettings> = {}): HeartbeatSettings {
  return {
    perHostMs: 1000,
    hostTimeoutMs: 30_000,
    deadShare: 0.01,
    periodMs: 300_000,
    hostConcurrency: 10,
    maxShards: 18,
    ...overrides,
  };
}

/**
 * Any fleet and cost, as the plan's properties draw them: the hosts, one host's read (ms), one
 * host's timeout (ms), the shards that may run at once.
 */
export const anyFleetAndCost = [
  fc.integer({ min: 0, max: 50_000 }),
  fc.integer({ min: 10, max: 5_000 }),
  fc.integer({ min: 1_000, max: 60_000 }),
  fc.integer({ min: 1, max: 100 }),
] as const;
