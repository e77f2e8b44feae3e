/**
 * Which parts of the Amazon States Language this simulation implements: every state type's
 * fields (JSONPath mode), the machine's fields, Retry and Catch entries. Anything else throws
 * `not implemented` before it could be silently ignored.
 */
import { NotImplementedError } from './errors.ts';
import type { Graph, StateDefinition } from './types.ts';

const COMMON = ['Type', 'Comment', 'QueryLanguage'];
const IO = ['InputPath', 'OutputPath'];
const FLOW = ['Next', 'End'];
const RESULT = ['ResultPath', 'ResultSelector', 'Parameters', 'Retry', 'Catch'];
const FIELDS: Record<string, string[]> = {
  Task: [...IO, ...FLOW, ...RESULT, 'Resource', 'TimeoutSeconds', 'HeartbeatSeconds'],
  Pass: [...IO, ...FLOW, 'ResultPath', 'Parameters', 'Result'],
  Choice: [...IO, 'Choices', 'Default'],
  Wait: [...IO, ...FLOW, 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'],
  Succeed: IO,
  Fail: ['Error', 'Cause', 'ErrorPath', 'CausePath'],
  Parallel: [...IO, ...FLOW, ...RESULT, 'Branches'],
  Map: [
    ...IO,
    ...FLOW,
    ...RESULT,
    'ItemProcessor',
    'Iterator',
    'ItemsPath',
    'ItemSelector',
    'ItemReader',
    'ItemBatcher',
    'ResultWriter',
    'MaxConcurrency',
    'MaxConcurrencyPath',
    'ToleratedFailureCount',
    'ToleratedFailureCountPath',
    'ToleratedFailurePercentage',
    'ToleratedFailurePercentagePath',
    'Label',
  ],
};

/** Fails loudly on a definition field this simulation does not implement. */
export function checkFields(state: StateDefinition, name: string): void {
  const allowed = FIELDS[state.Type as string];
  if (!allowed) throw new NotImplementedError(`state type ${String(state.Type)} (state ${name})`);
  if (state.QueryLanguage !== undefined && state.QueryLanguage !== 'JSONPath') {
    throw new NotImplementedError(`QueryLanguage ${String(state.QueryLanguage)} (state ${name})`);
  }
  for (const field of Object.keys(state)) {
    if (!COMMON.includes(field) && !allowed.includes(field)) {
      throw new NotImplementedError(`field ${field} of a ${String(state.Type)} state (state ${name})`);
    }
  }
}

const GRAPH_FIELDS = ['StartAt', 'States', 'Comment', 'Version', 'TimeoutSeconds', 'QueryLanguage'];
const RETRIER_FIELDS = [
  'ErrorEquals',
  'IntervalSeconds',
  'MaxAttempts',
  'BackoffRate',
  'MaxDelaySeconds',
  'JitterStrategy',
  'Comment',
];
const CATCHER_FIELDS = ['ErrorEquals', 'ResultPath', 'Next', 'Comment'];
const checked = new WeakSet<object>();

/** Fails loudly, once per graph, on a machine-level field this simulation does not implement. */
export function checkGraph(graph: Graph): void {
  if (checked.has(graph)) return;
  if (graph.QueryLanguage !== undefined && graph.QueryLanguage !== 'JSONPath') {
    throw new NotImplementedError(`QueryLanguage ${String(graph.QueryLanguage)}`);
  }
  for (const field of Object.keys(graph)) {
    if (!GRAPH_FIELDS.includes(field)) throw new NotImplementedError(`state machine field ${field}`);
  }
  for (const [name, state] of Object.entries(graph.States)) {
    for (const [list, allowed] of [
      [state.Retry, RETRIER_FIELDS],
      [state.Catch, CATCHER_FIELDS],
    ] as const) {
      for (const entry of (list ?? []) as Record<string, unknown>[]) {
        for (const field of Object.keys(entry)) {
          if (!allowed.includes(field))
            throw new NotImplementedError(`field ${field} of a Retry/Catch entry (state ${name})`);
        }
      }
    }
  }
  checked.add(graph);
}
