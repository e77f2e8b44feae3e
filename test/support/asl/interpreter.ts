/**
 * Runs a state graph (a machine, a Parallel branch, a Map's item processor) in JSONPath mode:
 * one state after another, Retry and Catch around Task, Parallel and Map, the payload quota on
 * every output. Fields this simulation does not implement throw `not implemented`.
 * https://states-language.net/spec.html and the Step Functions developer guide, cited per state.
 */
import { evaluateRule } from './choice-rules.ts';
import { checkFields, checkGraph } from './definition-check.ts';
import { matchesError, NotImplementedError, runtimeError, StatesError } from './errors.ts';
import { readPath } from './json-path.ts';
import { runMapState } from './map-state.ts';
import { evaluateExpression } from './payload-template.ts';
import { checkSize, contextObject, effectiveInput, stateOutput } from './state-io.ts';
import { runTask } from './task-state.ts';
import type { AbortScope, Graph, Json, Run, StateDefinition } from './types.ts';

/** Signals that the scope (execution, branch, iteration) was stopped; never a state's error. */
export class Aborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'Aborted';
  }
}

export const isAborted = (scope: AbortScope | undefined): boolean => {
  for (let s = scope; s; s = s.parent) if (s.aborted) return true;
  return false;
};

/** Runs a graph from StartAt to a terminal state and answers its output. */
export async function runGraph(graph: Graph, input: Json, run: Run): Promise<Json> {
  checkGraph(graph);
  const { runtime } = run;
  let name = graph.StartAt;
  let data = input;
  for (;;) {
    if (isAborted(run.scope)) throw new Aborted();
    const state = graph.States[name];
    if (!state) throw runtimeError(`No state named '${name}'`);
    checkFields(state, name);
    const entered = runtime.clock.iso();
    runtime.record(run.events, {
      type: 'StateEntered',
      at: runtime.clock.now(),
      execution: run.execution.Name,
      state: name,
      input: data,
    });
    const { output, next } = await runState(state, name, data, run, entered);
    if (isAborted(run.scope)) throw new Aborted();
    checkSize(output, `output of state '${name}'`);
    runtime.record(run.events, {
      type: 'StateExited',
      at: runtime.clock.now(),
      execution: run.execution.Name,
      state: name,
      output,
    });
    if (next === undefined) return output;
    name = next;
    data = output;
  }
}

interface Outcome {
  output: Json;
  next: string | undefined;
}

/** What every state's runner is given: the state, its name, its input, the run, when it was entered. */
type StateStep<R> = (state: StateDefinition, name: string, input: Json, run: Run, entered: string) => R;

const nextOf = (state: StateDefinition): string | undefined =>
  state.End === true ? undefined : (state.Next as string);

const runState: StateStep<Promise<Outcome>> = async (state, name, input, run, entered) => {
  switch (state.Type) {
    case 'Pass': {
      const context = contextObject(run, name, entered, 0);
      const effective = effectiveInput(state, input, context, run);
      const result = state.Result !== undefined ? state.Result : effective;
      return { output: stateOutput(state, input, result, context, run), next: nextOf(state) };
    }
    case 'Succeed':
      return { output: passThrough(state, input, run), next: undefined };
    case 'Fail':
      throw failState(state, name, input, run, entered);
    case 'Choice':
      return runChoice(state, name, input, run, entered);
    case 'Wait':
      return runWait(state, name, input, run, entered);
    default:
      return runWithRetry(state, name, input, run, entered);
  }
};

/** States without a result (Choice, Wait, Succeed): OutputPath over the input after InputPath. */
function passThrough(state: StateDefinition, input: Json, run: Run): Json {
  const effective = effectiveInput({ InputPath: state.InputPath }, input, undefined, run);
  return stateOutput({ OutputPath: state.OutputPath }, effective, effective, undefined, run, null);
}

const failState: StateStep<StatesError> = (state, name, input, run, entered) => {
  const scope = { input, context: contextObject(run, name, entered, 0), random: run.runtime.random };
  const error =
    state.ErrorPath !== undefined ? evaluateExpression(state.ErrorPath, scope, 'ErrorPath') : state.Error;
  const cause =
    state.CausePath !== undefined ? evaluateExpression(state.CausePath, scope, 'CausePath') : state.Cause;
  if (
    (error !== undefined && typeof error !== 'string') ||
    (cause !== undefined && typeof cause !== 'string')
  ) {
    throw runtimeError(`Fail state '${name}': ErrorPath and CausePath must give strings`);
  }
  return new StatesError(error ?? '', cause ?? '');
};

const runChoice: StateStep<Outcome> = (state, name, input, run, entered) => {
  const context = contextObject(run, name, entered, 0);
  const effective = effectiveInput({ InputPath: state.InputPath }, input, context, run);
  for (const rule of state.Choices as Record<string, unknown>[]) {
    if (evaluateRule(rule, effective, context))
      return { output: passThrough(state, input, run), next: rule.Next as string };
  }
  if (typeof state.Default === 'string')
    return { output: passThrough(state, input, run), next: state.Default };
  throw new StatesError(
    'States.NoChoiceMatched',
    `No Choice Rules matched and no Default was specified in state '${name}'`,
  );
};

const runWait: StateStep<Promise<Outcome>> = async (state, name, input, run, entered) => {
  const context = contextObject(run, name, entered, 0);
  const effective = effectiveInput({ InputPath: state.InputPath }, input, context, run);
  const { clock } = run.runtime;
  let ms: number;
  if (state.Seconds !== undefined || state.SecondsPath !== undefined) {
    const seconds = state.Seconds ?? readPath(effective, state.SecondsPath as string);
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0) {
      throw runtimeError(
        `Wait state '${name}': seconds must be a non-negative integer, got ${JSON.stringify(seconds)}`,
      );
    }
    ms = seconds * 1000;
  } else {
    const timestamp = state.Timestamp ?? readPath(effective, state.TimestampPath as string);
    const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
    if (Number.isNaN(at))
      throw runtimeError(`Wait state '${name}': invalid timestamp ${JSON.stringify(timestamp)}`);
    ms = Math.max(0, at - clock.now());
  }
  run.runtime.record(run.events, {
    type: 'WaitStarted',
    at: clock.now(),
    execution: run.execution.Name,
    state: name,
    ms,
  });
  await clock.sleep(ms);
  return { output: passThrough(state, input, run), next: nextOf(state) };
};

/**
 * Retry then Catch around a Task, Parallel or Map. The first retrier whose ErrorEquals matches
 * decides; once its MaxAttempts are spent the error goes to Catch, not to later retriers.
 * Delay = IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds; FULL jitter draws from
 * [0, delay). https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
const runWithRetry: StateStep<Promise<Outcome>> = async (state, name, input, run, entered) => {
  const retriers = (state.Retry ?? []) as Record<string, unknown>[];
  const catchers = (state.Catch ?? []) as Record<string, unknown>[];
  const attempts = retriers.map(() => 0);
  const { runtime } = run;
  let retryCount = 0;
  for (;;) {
    const context = contextObject(run, name, retryCount === 0 ? entered : runtime.clock.iso(), retryCount);
    try {
      const effective = effectiveInput(state, input, context, run);
      const result = await work(state, name, effective, run, retryCount, context);
      if (isAborted(run.scope)) throw new Aborted();
      return { output: stateOutput(state, input, result, context, run), next: nextOf(state) };
    } catch (error) {
      if (!(error instanceof StatesError) || isAborted(run.scope)) throw error;
      const index = retriers.findIndex((r) => matchesError(r.ErrorEquals as string[], error.error));
      const retrier = retriers[index];
      if (retrier && attempts[index]! < ((retrier.MaxAttempts as number | undefined) ?? 3)) {
        const interval = (retrier.IntervalSeconds as number | undefined) ?? 1;
        const backoff = (retrier.BackoffRate as number | undefined) ?? 2;
        let delay = interval * backoff ** attempts[index]!;
        if (typeof retrier.MaxDelaySeconds === 'number') delay = Math.min(delay, retrier.MaxDelaySeconds);
        if (retrier.JitterStrategy === 'FULL') delay *= runtime.random();
        else if (retrier.JitterStrategy !== undefined && retrier.JitterStrategy !== 'NONE') {
          throw new NotImplementedError(`JitterStrategy ${String(retrier.JitterStrategy)}`);
        }
        attempts[index]!++;
        retryCount++;
        runtime.record(run.events, {
          type: 'RetryScheduled',
          at: runtime.clock.now(),
          execution: run.execution.Name,
          state: name,
          error: error.error,
          attempt: attempts[index],
          delayMs: delay * 1000,
        });
        await runtime.clock.sleep(delay * 1000);
        if (isAborted(run.scope)) throw new Aborted();
        continue;
      }
      const catcher = catchers.find((c) => matchesError(c.ErrorEquals as string[], error.error));
      if (!catcher) throw error;
      runtime.record(run.events, {
        type: 'CatchTaken',
        at: runtime.clock.now(),
        execution: run.execution.Name,
        state: name,
        error: error.error,
        next: catcher.Next,
      });
      const resultPath = catcher.ResultPath === undefined ? '$' : catcher.ResultPath;
      const output = stateOutput(
        { ResultPath: resultPath },
        input,
        { Error: error.error, Cause: error.cause },
        context,
        run,
      );
      return { output, next: catcher.Next as string };
    }
  }
};

async function work(
  state: StateDefinition,
  name: string,
  effective: Json,
  run: Run,
  retryCount: number,
  context: object,
): Promise<Json> {
  if (state.Type === 'Task') return runTask(state, name, effective, run, retryCount);
  if (state.Type === 'Map') return runMapState(state, name, effective, run, context);
  return runParallel(state, effective, run);
}

/** All branches on the same input; the first failure fails the state and stops the others. */
async function runParallel(state: StateDefinition, input: Json, run: Run): Promise<Json> {
  const scope: AbortScope = { aborted: false, parent: run.scope };
  const branches = (state.Branches as Graph[]).map((graph) => runGraph(graph, input, { ...run, scope }));
  try {
    return await Promise.all(branches);
  } catch (error) {
    scope.aborted = true;
    for (const b of branches) b.catch(() => {});
    throw error;
  }
}
