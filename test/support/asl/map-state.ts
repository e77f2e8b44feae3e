/**
 * The Map state. INLINE: iterations in this execution, up to MaxConcurrency at once (0 = 40, the
 * most AWS runs);
 * the first failing iteration fails the state and stops the rest.
 * DISTRIBUTED: a Map Run whose children are executions of their own (own `$$.Execution`),
 * started up to MaxConcurrency at once (0 = 10,000). Child failures count, in items, against
 * ToleratedFailureCount/Percentage; once they exceed it the Map Run fails with
 * States.ExceedToleratedFailureThreshold: no further child starts and the running ones are
 * ABORTED, as in AWS (DescribeMapRun's `aborted`: "stopped ... by Step Functions because the
 * Map Run failed").
 * https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
 */
import { randomUUID } from 'node:crypto';
import { NotImplementedError, runtimeError, StatesError } from './errors.ts';
import { Aborted, isAborted, runGraph } from './interpreter.ts';
import { batchItems, readItems } from './item-reader.ts';
import { readPath } from './json-path.ts';
import { evaluateTemplate, type Scope } from './payload-template.ts';
import { type ChildRecord, writeResults } from './result-writer.ts';
import type { AbortScope, ChildHandle, Graph, Json, Run, StateDefinition } from './types.ts';

const DISTRIBUTED_MAX_CONCURRENCY = 10_000;
/** "In this mode, the Map state supports up to 40 concurrent iterations." (state-map-inline) */
const INLINE_MAX_CONCURRENCY = 40;

function processorOf(
  state: StateDefinition,
  name: string,
): { graph: Graph; distributed: boolean; express: boolean } {
  const processor = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
  if (!processor) throw runtimeError(`Map state '${name}' has no ItemProcessor`);
  const config = (processor.ProcessorConfig ?? {}) as Record<string, unknown>;
  const mode = config.Mode ?? 'INLINE';
  if (mode !== 'INLINE' && mode !== 'DISTRIBUTED')
    throw new NotImplementedError(`Map ProcessorConfig.Mode ${String(mode)}`);
  const { ProcessorConfig: _config, ...graph } = processor;
  return {
    graph: graph as unknown as Graph,
    distributed: mode === 'DISTRIBUTED',
    express: config.ExecutionType === 'EXPRESS',
  };
}

const numberField = (state: StateDefinition, field: string, input: Json): number | undefined => {
  const path = state[`${field}Path`];
  const value = path !== undefined ? readPath(input, path as string) : state[field];
  if (value !== undefined && (typeof value !== 'number' || value < 0)) {
    throw runtimeError(`Map ${field} must be a non-negative number, got ${JSON.stringify(value)}`);
  }
  return value as number | undefined;
};

/** Runs a Map state on its effective input and answers its raw result. */
export async function runMapState(
  state: StateDefinition,
  name: string,
  input: Json,
  run: Run,
  context: object,
): Promise<Json> {
  const { graph, distributed, express } = processorOf(state, name);
  if (!distributed) {
    for (const field of [
      'ItemReader',
      'ItemBatcher',
      'ResultWriter',
      'ToleratedFailureCount',
      'ToleratedFailurePercentage',
    ]) {
      if (state[field] !== undefined)
        throw runtimeError(`${field} needs a DISTRIBUTED Map (state '${name}')`);
    }
  }
  const scope: Scope = { input, context, random: run.runtime.random };
  const items = state.ItemReader
    ? await readItems(state.ItemReader as Record<string, unknown>, scope, run)
    : readPath(input, (state.ItemsPath as string | undefined) ?? '$');
  if (!Array.isArray(items))
    throw runtimeError(`Map state '${name}': the items (ItemsPath) are not an array`);
  const selector = state.ItemSelector ?? state.Parameters;
  const selected =
    selector === undefined
      ? items
      : items.map((value, index) =>
          evaluateTemplate(selector, {
            input,
            context: { ...context, Map: { Item: { Index: index, Value: value } } },
            random: run.runtime.random,
          }),
        );
  const requested = numberField(state, 'MaxConcurrency', input) || Infinity;
  const maxConcurrency = Math.min(
    requested,
    distributed ? DISTRIBUTED_MAX_CONCURRENCY : INLINE_MAX_CONCURRENCY,
  );
  if (!distributed) return runInline(graph, selected, maxConcurrency, run);
  const units = state.ItemBatcher
    ? batchItems(state.ItemBatcher as Record<string, unknown>, selected, scope)
    : selected.map((item) => ({ input: item, count: 1 }));
  const tolerance = {
    count: numberField(state, 'ToleratedFailureCount', input),
    percentage: numberField(state, 'ToleratedFailurePercentage', input),
  };
  const label = (state.Label as string | undefined) ?? name;
  const mapRunArn = `arn:aws:states:sim:000000000000:mapRun:${run.runtime.stateMachineName}/${label}:${randomUUID()}`;
  const childMachineArn = `arn:aws:states:sim:000000000000:stateMachine:${run.runtime.stateMachineName}/${label}`;
  const record = (type: string, detail: object) =>
    run.runtime.record(run.events, {
      type,
      at: run.runtime.clock.now(),
      execution: run.execution.Name,
      state: name,
      mapRunArn,
      ...detail,
    });
  record('MapRunStarted', { items: selected.length, children: units.length, maxConcurrency });
  const children: ChildRecord[] = units.map((u) => ({ input: u.input, status: 'PENDING' }));
  const failure = await runMapRun(units, children, {
    maxConcurrency,
    tolerance,
    totalItems: selected.length,
    run,
    start: (index) =>
      run.runtime.startChild({
        graph,
        input: units[index]!.input,
        name: `${mapRunArn.split(':').pop()}_${index}`,
        executionArn: `arn:aws:states:sim:000000000000:${express ? 'express' : 'execution'}:${run.runtime.stateMachineName}/${label}:${mapRunArn.split(':').pop()}_${index}`,
        stateMachineArn: childMachineArn,
        parentScope: run.scope,
        express,
      }),
    record,
    stateMachineArn: childMachineArn,
  });
  record(failure ? 'MapRunFailed' : 'MapRunSucceeded', {});
  const writer = state.ResultWriter as Record<string, unknown> | undefined;
  const result = writer
    ? await writeResults(writer, children, mapRunArn, scope, run)
    : children.map((c) => c.output ?? null);
  if (failure) throw failure;
  return result;
}

async function runInline(graph: Graph, items: Json[], maxConcurrency: number, run: Run): Promise<Json[]> {
  const scope: AbortScope = { aborted: false, parent: run.scope };
  const results: Json[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const mark = (type: string) =>
        run.runtime.record(run.events, {
          type,
          at: run.runtime.clock.now(),
          execution: run.execution.Name,
          index,
        });
      mark('MapIterationStarted');
      results[index] = await runGraph(graph, items[index], { ...run, scope });
      mark('MapIterationFinished');
    }
  };
  const workers = Array.from({ length: Math.min(maxConcurrency, items.length) }, worker);
  try {
    await Promise.all(workers);
  } catch (error) {
    scope.aborted = true;
    for (const w of workers) w.catch(() => {});
    throw error;
  }
  return results;
}

interface MapRunOptions {
  maxConcurrency: number;
  tolerance: { count: number | undefined; percentage: number | undefined };
  totalItems: number;
  run: Run;
  start(index: number): ChildHandle;
  record(type: string, detail: object): void;
  stateMachineArn: string;
}

/** Starts children up to the concurrency, counts failures; answers the Map Run's failure, if any. */
function runMapRun(
  units: { count: number }[],
  children: ChildRecord[],
  o: MapRunOptions,
): Promise<StatesError | undefined> {
  const { count, percentage } = o.tolerance;
  const exceeded = (failedItems: number) =>
    count === undefined && percentage === undefined
      ? failedItems > 0
      : (count !== undefined && failedItems > count) ||
        (percentage !== undefined && (failedItems * 100) / Math.max(1, o.totalItems) > percentage);
  return new Promise((resolve, reject) => {
    const running = new Map<number, ChildHandle>();
    let next = 0;
    let failedItems = 0;
    let finished = false;
    const finish = (failure: StatesError | undefined) => {
      if (finished) return;
      finished = true;
      resolve(failure);
    };
    const launch = () => {
      if (isAborted(o.run.scope)) {
        for (const handle of running.values()) handle.abort();
        finished = true;
        reject(new Aborted());
        return;
      }
      while (!finished && running.size < o.maxConcurrency && next < units.length) {
        const index = next++;
        const handle = o.start(index);
        running.set(index, handle);
        Object.assign(children[index]!, {
          status: 'RUNNING',
          name: handle.name,
          executionArn: handle.executionArn,
          startDate: handle.startDate,
          stateMachineArn: o.stateMachineArn,
        });
        o.record('MapItemStarted', { index, childExecution: handle.name });
        handle.done.then((outcome) => {
          if (finished) return;
          running.delete(index);
          Object.assign(children[index]!, outcome);
          o.record('MapItemFinished', { index, childExecution: handle.name, status: outcome.status });
          if (outcome.status !== 'SUCCEEDED') failedItems += units[index]!.count;
          if (outcome.status !== 'SUCCEEDED' && exceeded(failedItems)) {
            for (const [i, other] of running) {
              other.abort();
              Object.assign(children[i]!, { status: 'ABORTED', stopDate: o.run.runtime.clock.now() });
            }
            running.clear();
            finish(
              new StatesError(
                'States.ExceedToleratedFailureThreshold',
                `The specified tolerated failure threshold was exceeded: ${failedItems} of ${o.totalItems} items failed`,
              ),
            );
            return;
          }
          if (running.size === 0 && next >= units.length) finish(undefined);
          else launch();
        }, reject);
      }
      if (!finished && running.size === 0 && next >= units.length) finish(undefined);
    };
    launch();
  });
}
