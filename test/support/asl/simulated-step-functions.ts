/**
 * Step Functions simulated in-process over the real handlers: StartExecution (Standard
 * workflows' name idempotency), executions with their results and event traces, the
 * machine's TimeoutSeconds, and a Distributed Map's children as executions of their own.
 * StartExecution: "If StartExecution is called with the same name and input as a running
 * execution, the call succeeds and return the same response as the original request. If the
 * execution is closed or if the input is different, it returns a 400 ExecutionAlreadyExists
 * error." https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 */
import { randomUUID } from 'node:crypto';
import { present } from '../../../lib/optional.ts';
import { ExecutionAlreadyExists, NotImplementedError, StatesError } from './errors.ts';
import { Aborted, runGraph } from './interpreter.ts';
import { checkSize } from './state-io.ts';
import type {
  AbortScope,
  ChildHandle,
  ChildOutcome,
  ChildRequest,
  Graph,
  Invoke,
  Json,
  Run,
  Runtime,
  S3Like,
  TraceEvent,
} from './types.ts';
import { createRandom, VirtualClock } from './virtual-clock.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface ExecutionResult {
  status: ExecutionStatus;
  output?: Json;
  error?: string;
  cause?: string;
  executionArn: string;
  name: string;
  startDate: number;
  stopDate: number;
}

export interface SimulationOptions {
  /** Task handlers; without it every Task fails loudly. */
  invoke?: Invoke;
  /** The S3 of ItemReader and ResultWriter. */
  s3?: S3Like;
  /** Virtual time; a new clock at 2026-01-01T00:00:00Z by default. */
  clock?: VirtualClock;
  /** Seed of the random numbers behind FULL jitter and States.MathRandom. */
  seed?: number;
}

export interface StartExecutionRequest {
  /** The ASL definition (as `resolveDefinition` answers it). */
  definition: object;
  name?: string;
  /** An object, or its JSON text as the API takes it. */
  input?: Json;
  /** Scopes name idempotency as a state machine does; "StateMachine" by default. */
  stateMachineName?: string;
}

const HISTORY_LIMIT = 25_000;
const HISTORY_WEIGHT: Record<string, number> = {
  ExecutionStarted: 1,
  StateEntered: 1,
  StateExited: 1,
  TaskScheduled: 2,
  TaskSucceeded: 1,
  TaskFailed: 1,
  MapRunStarted: 2,
  MapRunSucceeded: 2,
  MapRunFailed: 2,
  MapIterationStarted: 1,
  MapIterationFinished: 1,
};
/** An Express workflow runs five minutes at most. https://docs.aws.amazon.com/step-functions/latest/dg/choosing-workflow-type.html */
const EXPRESS_MAX_SECONDS = 300;

const NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

/** One execution: its status, result and event trace. */
export class Execution {
  readonly executionArn: string;
  readonly name: string;
  readonly input: Json;
  readonly inputJson: string;
  readonly startDate: number;
  readonly events: TraceEvent[] = [];
  status: ExecutionStatus = 'RUNNING';
  #result: ExecutionResult | undefined;
  #promise: Promise<ExecutionResult>;
  #settle!: (result: ExecutionResult) => void;
  #fail!: (error: unknown) => void;
  readonly #scope: AbortScope;
  readonly #runtime: Runtime;

  constructor(
    runtime: Runtime,
    graph: Graph,
    name: string,
    executionArn: string,
    input: Json,
    parentScope?: AbortScope,
    maxSeconds?: number,
  ) {
    this.#runtime = runtime;
    this.name = name;
    this.executionArn = executionArn;
    this.inputJson = checkSize(input, 'execution input');
    this.input = input;
    this.startDate = runtime.clock.now();
    this.#scope = { aborted: false, parent: parentScope };
    this.#promise = new Promise((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
    });
    // A rejected result (a not-implemented feature) must surface where result() is awaited.
    this.#promise.catch(() => {});
    const run: Run = {
      runtime,
      execution: {
        Id: executionArn,
        Name: name,
        Input: input,
        StartTime: new Date(this.startDate).toISOString(),
        RoleArn: 'arn:aws:iam::000000000000:role/StateMachineRole',
      },
      events: this.events,
      scope: this.#scope,
    };
    this.#record('ExecutionStarted', { input });
    const own = typeof graph.TimeoutSeconds === 'number' ? graph.TimeoutSeconds : undefined;
    const timeout = maxSeconds === undefined ? own : Math.min(own ?? maxSeconds, maxSeconds);
    const cancel =
      typeof timeout === 'number'
        ? runtime.clock.timer(timeout * 1000, () =>
            this.#close('TIMED_OUT', {
              error: 'States.Timeout',
              cause: `Execution timed out after ${timeout} seconds`,
            }),
          )
        : () => {};
    runGraph(graph, JSON.parse(this.inputJson), run).then(
      (output) => {
        cancel();
        this.#close('SUCCEEDED', { output: JSON.parse(JSON.stringify(output) ?? 'null') });
      },
      (error) => {
        cancel();
        if (error instanceof StatesError) this.#close('FAILED', { error: error.error, cause: error.cause });
        else if (error instanceof Aborted) this.#close('ABORTED', {});
        else if (!this.#result) {
          this.status = 'FAILED';
          this.#fail(error);
        }
      },
    );
  }

  /** Waits for the execution to close. */
  result(): Promise<ExecutionResult> {
    return this.#promise;
  }

  /** StopExecution: ABORTED now; the running state's handler finishes but nothing follows it. */
  stop(error?: string, cause?: string): void {
    this.#close('ABORTED', {
      ...present({ error, cause }),
    });
  }

  #record(type: string, detail: object): void {
    this.#runtime.record(this.events, {
      type,
      at: this.#runtime.clock.now(),
      execution: this.name,
      ...detail,
    });
  }

  #close(status: ExecutionStatus, detail: { output?: Json; error?: string; cause?: string }): void {
    if (this.#result) return;
    this.#scope.aborted = status !== 'SUCCEEDED' && status !== 'FAILED';
    this.status = status;
    this.#result = {
      status,
      ...detail,
      executionArn: this.executionArn,
      name: this.name,
      startDate: this.startDate,
      stopDate: this.#runtime.clock.now(),
    };
    this.#record(`Execution${status[0]}${status.slice(1).toLowerCase().replace('_o', 'O')}`, detail);
    this.#settle(this.#result);
  }
}

/** Step Functions in a box: start executions of ASL definitions over injected handlers. */
export class SimulatedStepFunctions {
  readonly clock: VirtualClock;
  /** Every event of every execution (children included), in order. */
  readonly events: TraceEvent[] = [];
  readonly executions = new Map<string, Execution>();
  readonly #options: SimulationOptions;
  readonly #random: () => number;
  readonly #history = new WeakMap<TraceEvent[], number>();

  constructor(options: SimulationOptions = {}) {
    this.#options = options;
    this.clock = options.clock ?? new VirtualClock();
    this.#random = createRandom(options.seed ?? 1);
  }

  /** StartExecution; throws ExecutionAlreadyExists as the API does. */
  startExecution(request: StartExecutionRequest): Execution {
    const machine = request.stateMachineName ?? 'StateMachine';
    const name = request.name ?? randomUUID();
    if (!NAME.test(name)) throw Object.assign(new Error(`Invalid Name: '${name}'`), { name: 'InvalidName' });
    let input: Json = request.input ?? {};
    if (typeof input === 'string') {
      try {
        input = JSON.parse(input);
      } catch {
        throw Object.assign(new Error('Invalid State Machine Execution Input'), {
          name: 'InvalidExecutionInput',
        });
      }
    }
    const executionArn = `arn:aws:states:sim:000000000000:execution:${machine}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.inputJson === JSON.stringify(input)) return existing;
      throw new ExecutionAlreadyExists(name);
    }
    const execution = new Execution(
      this.#runtime(machine),
      request.definition as Graph,
      name,
      executionArn,
      input,
    );
    this.executions.set(executionArn, execution);
    return execution;
  }

  #runtime(
    machine: string,
    stateMachineArn = `arn:aws:states:sim:000000000000:stateMachine:${machine}`,
  ): Runtime {
    const invoke: Invoke =
      this.#options.invoke ??
      (async (target) => {
        throw new NotImplementedError(`no invoke handler given for ${target}`);
      });
    const runtime: Runtime = {
      clock: this.clock,
      random: this.#random,
      invoke,
      s3: this.#options.s3,
      stateMachineArn,
      stateMachineName: machine,
      record: (events, event) => {
        events.push(event);
        this.events.push(event);
        this.#countHistory(events, event);
      },
      startChild: (request) => this.#startChild(runtime, request),
    };
    return runtime;
  }

  /**
   * Standard workflows have a hard quota of 25,000 history events; an execution whose 25,000th
   * event is not ExecutionSucceeded fails. The trace's events are weighted to AWS's history
   * (a Task attempt is TaskScheduled + TaskStarted + its end; a Distributed Map's children keep
   * their own histories). https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html
   */
  #countHistory(events: TraceEvent[], event: TraceEvent): void {
    const count = (this.#history.get(events) ?? 0) + (HISTORY_WEIGHT[event.type] ?? 0);
    this.#history.set(events, count);
    if (count >= HISTORY_LIMIT && !event.type.startsWith('Execution')) {
      throw new StatesError(
        'States.Runtime',
        `The execution reached the maximum number of history events (${HISTORY_LIMIT}).`,
      );
    }
  }

  #startChild(parent: Runtime, request: ChildRequest): ChildHandle {
    const runtime: Runtime = { ...parent, stateMachineArn: request.stateMachineArn };
    const child = new Execution(
      runtime,
      request.graph,
      request.name,
      request.executionArn,
      request.input,
      request.parentScope,
      request.express ? EXPRESS_MAX_SECONDS : undefined,
    );
    const done = child.result().then(
      (r): ChildOutcome => ({
        status: r.status === 'RUNNING' ? 'ABORTED' : r.status,
        ...present({ output: r.output, error: r.error, cause: r.cause }),
        stopDate: r.stopDate,
      }),
    );
    return {
      executionArn: child.executionArn,
      name: child.name,
      startDate: child.startDate,
      done,
      abort: () => child.stop(),
    };
  }
}
