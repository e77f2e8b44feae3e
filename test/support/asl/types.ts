/**
 * Shapes shared by the simulation's parts: options, the per-execution run, trace events.
 */
import type { VirtualClock } from './virtual-clock.ts';

export type Json = unknown;
export type StateDefinition = Record<string, unknown>;
export interface Graph {
  StartAt: string;
  States: Record<string, StateDefinition>;
  [field: string]: unknown;
}

/** What a Task handler is told besides its payload. */
export interface InvokeContext {
  /** The Task's Resource (`arn:aws:states:::lambda:invoke`, a function ARN, another integration). */
  resource: string;
  /** The function ARN or name for Lambda tasks (Parameters.FunctionName or the direct ARN). */
  functionName: string | undefined;
  /** The logical id in a `resolveDefinition` placeholder ARN, when there is one. */
  logicalId: string | undefined;
  stateName: string;
  executionArn: string;
  executionName: string;
  /** 0 on the first attempt, then 1, 2… as Retry re-runs the state. */
  retryCount: number;
  /** Advances virtual time from inside a handler (a host that takes 250 ms), without real sleeping. */
  sleep(ms: number): Promise<void>;
}

/** Routes a Task to its handler: for Lambda tasks `target` is the function ARN/name, else the Resource. */
export type Invoke = (target: string, payload: Json, ctx: InvokeContext) => Promise<Json>;

/** The S3 the ItemReader reads and the ResultWriter writes (a Map in memory, or the loopback S3 server). */
export interface S3Like {
  getObject(bucket: string, key: string): Promise<string>;
  putObject(bucket: string, key: string, body: string): Promise<void>;
}

export interface TraceEvent {
  type: string;
  /** Virtual time, ms since the epoch. */
  at: number;
  execution: string;
  state?: string;
  [detail: string]: unknown;
}

/** Who can be stopped: an execution, a Parallel's branches, a Map's iterations. */
export interface AbortScope {
  aborted: boolean;
  parent: AbortScope | undefined;
}

export interface ExecutionInfo {
  Id: string;
  Name: string;
  Input: Json;
  StartTime: string;
  RoleArn: string;
}

export interface Runtime {
  clock: VirtualClock;
  random: () => number;
  invoke: Invoke;
  s3: S3Like | undefined;
  stateMachineArn: string;
  stateMachineName: string;
  record(events: TraceEvent[], event: TraceEvent): void;
  /** Starts a Distributed Map's child as an execution of its own (see map-run.ts). */
  startChild(request: ChildRequest): ChildHandle;
}

export interface ChildRequest {
  graph: Graph;
  input: Json;
  name: string;
  executionArn: string;
  stateMachineArn: string;
  /** The parent execution's scope: stopping the parent stops its Map Run's children. */
  parentScope: AbortScope;
  /** ExecutionType EXPRESS: the child times out after five minutes. */
  express: boolean;
}

export interface ChildHandle {
  executionArn: string;
  name: string;
  startDate: number;
  done: Promise<ChildOutcome>;
  abort(): void;
}

export interface ChildOutcome {
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  output?: Json;
  error?: string;
  cause?: string;
  stopDate: number;
}

export interface Run {
  runtime: Runtime;
  execution: ExecutionInfo;
  events: TraceEvent[];
  scope: AbortScope;
}
