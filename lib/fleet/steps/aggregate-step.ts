/**
 * The fleet run's last step: every target's report from what the run kept — the canaries' and
 * the Map's ResultWriter files in the runs bucket — never from the hosts; a target with no report
 * (the run stopped before it) is `skipped`. The whole result is written beside them, the record
 * updated, and the callback POSTed once with a body of at most 1 MiB.
 */
import pLimit from 'p-limit';
import * as z from 'zod';
import { present } from '../../optional.ts';
import { aggregate, type TargetReport, withCallbackOutcome } from '../aggregate.ts';
import { voteConfigCallback } from '../config-callback.ts';
import { deliverOnce } from './deliver.ts';
import { readJson, runKeys, type StepDeps } from './deps.ts';
import type { FleetRunState, TargetItem } from './events.ts';
import { upgradeRequest } from './plan.ts';
import { releaseSlots } from './reserve.ts';
import {
  type IndexedReport,
  neverStarted,
  stepFailedReport,
  UNREACHABLE_CANARIES_PER_STEP,
} from './target-step.ts';

const manifestSchema = z.looseObject({
  ResultFiles: z.record(z.string(), z.array(z.looseObject({ Key: z.string() }))),
});
const childSchema = z.looseObject({
  Status: z.string().optional(),
  Input: z.string().nullish(),
  Output: z.string().nullish(),
  Error: z.string().nullish(),
  Cause: z.string().nullish(),
});
const indexSchema = z.looseObject({ index: z.number().int().min(0), server: z.string(), status: z.string() });

function parse(text: string | null | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** The Map's children, as the ResultWriter wrote them: each SUCCEEDED child's report, each FAILED child's item. */
async function readMapResults(deps: StepDeps, run: FleetRunState) {
  const reports = new Map<number, IndexedReport>();
  const failed: { index: number; server: string; error: string }[] = [];
  const details = run.fleetRun?.ResultWriterDetails;
  if (!details) return { reports, failed };
  const blobs = deps.blobs;
  const manifest = manifestSchema.parse(parse(await blobs.get(details.Key)));
  for (const file of Object.values(manifest.ResultFiles).flat()) {
    const children = z.array(childSchema).parse(parse(await blobs.get(file.Key)) ?? []);
    for (const child of children) {
      const output = indexSchema.safeParse(parse(child.Output));
      if (child.Status === 'SUCCEEDED' && output.success) {
        reports.set(output.data.index, output.data as unknown as IndexedReport);
        continue;
      }
      const input = z
        .looseObject({ item: indexSchema.pick({ index: true, server: true }) })
        .safeParse(parse(child.Input));
      if (input.success) {
        failed.push({ ...input.data.item, error: `${child.Error ?? 'failed'}: ${child.Cause ?? ''}` });
      }
    }
  }
  return { reports, failed };
}

/** Aggregates the run, stores it whole, calls back once; answers the result without its targets. */
export async function aggregateFleetRun(deps: StepDeps, run: FleetRunState) {
  const now = deps.now ?? (() => new Date());
  // The run starts no target any more: its units of the pool are given back first, so a failure
  // below never holds them — at once when its Map ended (every child done) or never started; when
  // the Map failed, its children were stopped but their invocations run on a while.
  await releaseSlots(deps, run.operationId, run['fleetError'] === undefined ? undefined : {});
  const keys = runKeys(run.operationId);
  const items = (await readJson<TargetItem[]>(deps.blobs, keys.targets)) ?? [];
  const { reports, failed } = await readMapResults(deps, run);
  // A canary step that failed for good (caught into `canaryError`) may have kept the reports of
  // the targets it tried (one, or several past unreachable ones).
  const tried = run['canaryError'] === undefined ? 0 : UNREACHABLE_CANARIES_PER_STEP;
  const canaries = Math.min(items.length, run.plan.canary.next + tried);
  for (let index = 0; index < canaries; index += 1) {
    const canary = await readJson<IndexedReport>(deps.blobs, keys.canary(index));
    if (canary) reports.set(index, canary);
  }
  // The Map itself failed (its item list or results unreadable): each child kept its report.
  if (run['fleetError'] !== undefined && run.fleetRun === undefined) {
    const limit = pLimit(32);
    const fleet = items.slice(run.plan.canary.next);
    const kept = await Promise.all(
      fleet.map((item) => limit(() => readJson<IndexedReport>(deps.blobs, keys.report(item.index)))),
    );
    for (const report of kept) if (report) reports.set(report.index, report);
  }
  // A child whose step failed for good (not a target's failure): its kept report if it made one;
  // a step that was throttled to the end never ran, so its target was never touched: skipped.
  for (const child of failed) {
    if (reports.has(child.index)) continue;
    const kept = await readJson<IndexedReport>(deps.blobs, keys.report(child.index));
    if (!kept && (await neverStarted(deps, keys.report(child.index), child.error))) continue;
    reports.set(child.index, kept ?? stepFailedReport(child, child.error));
  }
  const vote = voteConfigCallback();
  const targets = items.map((item): TargetReport => {
    const found = reports.get(item.index);
    if (!found) return { server: item.server, status: 'skipped' };
    const { index: _index, hostCallbackUrl, ...report } = found;
    if (hostCallbackUrl !== undefined) vote.add(hostCallbackUrl);
    return report as TargetReport;
  });
  const command = upgradeRequest(run.request);
  const { command: _name, ...args } = command;
  let result = aggregate({
    operationId: run.operationId,
    command: command.command,
    args,
    startedAt: new Date(run.startedAt),
    finishedAt: now(),
    targets,
  });
  const location = `s3://${deps.blobs.bucket}/${keys.result}`;
  await deps.blobs.put(keys.result, JSON.stringify(result));
  // The request's URL, else the one every host read names (one host's file never decides alone).
  const url = run.plan.callbackUrl ?? vote.agreed() ?? null;
  const disagreement = run.plan.callbackUrl === null ? vote.disagreement() : undefined;
  if (disagreement) console.warn(`${run.operationId}: ${disagreement}`);
  if (url !== null) {
    const resultUrl = deps.blobs.urlOf
      ? await deps.blobs.urlOf(keys.result)
      : `/fleet/operations/${run.operationId}`;
    result = withCallbackOutcome(result, await deliverOnce(deps, url, result, resultUrl));
  }
  await deps.store.update(run.operationId, {
    status: result.status,
    finishedAt: result.finishedAt,
    summary: result.summary,
    resultLocation: location,
    ...present({ callback: result.callback }),
  });
  return {
    operationId: result.operationId,
    status: result.status,
    summary: result.summary,
    result: { bucket: deps.blobs.bucket, key: keys.result },
    ...present({ callback: result.callback }),
  };
}
