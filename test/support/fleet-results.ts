/** Fleet results as the tests build and read them: one `server:status` string per target. */
import { aggregate, type FleetResult, type TargetReport } from '../../lib/fleet/aggregate.ts';

/** The result of a `product.upgrade deepfiler 3.2.1` run over `targets`, aggregated as the engine does. */
export function upgradeResult(targets: TargetReport[], startedAt: string, finishedAt: string): FleetResult {
  return aggregate({
    operationId: 'op_01J0000000000000000000000',
    command: 'product.upgrade',
    args: { product: 'deepfiler', version: '3.2.1' },
    startedAt: new Date(startedAt),
    finishedAt: new Date(finishedAt),
    targets,
  });
}

/** `server:status` for each target of a fleet result, in order. */
export function statuses(result: { targets: { server: string; status: string }[] }): string[] {
  return result.targets.map((t) => `${t.server}:${t.status}`);
}

/** `first`, then `web-N:skipped` for every later host up to `total`: a run that stopped after `first`. */
export function thenSkipped(first: string[], total: number): string[] {
  const skipped = Array.from(
    { length: total - first.length },
    (_, i) => `web-${first.length + i + 1}:skipped`,
  );
  return [...first, ...skipped];
}
