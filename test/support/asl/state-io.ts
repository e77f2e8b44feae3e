/**
 * Input and output processing of a state in JSONPath mode, in AWS's order: InputPath →
 * Parameters → (the state's work) → ResultSelector → ResultPath → OutputPath, and the 256 KiB
 * payload quota on each state's input and output.
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (256 KiB payload)
 */
import { StatesError } from './errors.ts';
import { readPath, writePath } from './json-path.ts';
import { evaluateTemplate } from './payload-template.ts';
import type { Json, Run, StateDefinition } from './types.ts';

export const PAYLOAD_LIMIT_BYTES = 256 * 1024;

/** The context object (`$$`) a state sees. */
export function contextObject(
  run: Run,
  stateName: string,
  enteredTime: string,
  retryCount: number,
  extra?: object,
) {
  return {
    Execution: run.execution,
    StateMachine: { Id: run.runtime.stateMachineArn, Name: run.runtime.stateMachineName },
    State: { Name: stateName, EnteredTime: enteredTime, RetryCount: retryCount },
    ...extra,
  };
}

/** Fails with States.DataLimitExceeded when a payload's JSON is over 256 KiB; returns its JSON. */
export function checkSize(value: Json, what: string): string {
  const text = JSON.stringify(value) ?? 'null';
  // A UTF-8 character is at most 3 bytes per UTF-16 unit: short texts need no byte count.
  if (text.length * 3 > PAYLOAD_LIMIT_BYTES && Buffer.byteLength(text) > PAYLOAD_LIMIT_BYTES) {
    throw new StatesError(
      'States.DataLimitExceeded',
      `The ${what} has a size of ${Buffer.byteLength(text)} bytes, which exceeds the maximum of ${PAYLOAD_LIMIT_BYTES} bytes`,
    );
  }
  return text;
}

/** InputPath (null → `{}`), then Parameters (a Map's Parameters is its per-item ItemSelector, not this). */
export function effectiveInput(state: StateDefinition, input: Json, context: unknown, run: Run): Json {
  let value = selectPath(state.InputPath, input);
  if (state.Parameters !== undefined && state.Type !== 'Map') {
    value = evaluateTemplate(state.Parameters, { input: value, context, random: run.runtime.random });
    checkSize(value, 'state input after Parameters');
  }
  return value;
}

/** ResultSelector, ResultPath (null → the input unchanged), OutputPath (null → `{}`). */
export function stateOutput(
  state: StateDefinition,
  input: Json,
  result: Json,
  context: unknown,
  run: Run,
  resultPathDefault: unknown = '$',
): Json {
  let value = result;
  if (state.ResultSelector !== undefined) {
    value = evaluateTemplate(state.ResultSelector, { input: value, context, random: run.runtime.random });
  }
  const withResult = applyResultPath(
    state.ResultPath === undefined ? resultPathDefault : state.ResultPath,
    input,
    value,
  );
  return selectPath(state.OutputPath, withResult);
}

export function applyResultPath(resultPath: unknown, input: Json, result: Json): Json {
  if (resultPath === null) return input;
  if (typeof resultPath !== 'string')
    throw new StatesError('States.Runtime', 'ResultPath must be a string or null');
  return resultPath === '$' ? result : writePath(input, resultPath, result);
}

function selectPath(path: unknown, value: Json): Json {
  if (path === undefined || path === '$') return value;
  if (path === null) return {};
  return readPath(value, path as string);
}
