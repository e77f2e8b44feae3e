/**
 * Where fleet runs are remembered so that `GET /fleet/operations/{id}` can answer. A fleet run's
 * real record is its callback (SPEC 5) and the journals on its hosts; this store is a
 * convenience for one process (`serve`), bounded, oldest forgotten first.
 */
import type { FleetResult } from '../fleet/index.ts';

/** A fleet run while it runs (`status: "running"`), then its aggregated result. */
export type FleetRecord =
  | {
      operationId: string;
      command: string;
      args: Record<string, unknown>;
      status: 'running';
      startedAt: string;
    }
  | FleetResult;

export interface FleetStore {
  get(operationId: string): FleetRecord | undefined;
  put(record: FleetRecord): void;
}

/** An in-memory store that keeps the newest `limit` runs. */
export function createMemoryFleetStore(limit = 1000): FleetStore {
  const records = new Map<string, FleetRecord>();
  return {
    get: (operationId) => records.get(operationId),
    put(record) {
      records.delete(record.operationId);
      records.set(record.operationId, record);
      while (records.size > limit) {
        const oldest = records.keys().next().value;
        if (oldest === undefined) break;
        records.delete(oldest);
      }
    },
  };
}
