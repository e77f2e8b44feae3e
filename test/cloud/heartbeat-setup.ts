/**
 * What the heartbeat simulations share: the SYNTHESIZED heartbeat state machine, run by the ASL
 * simulation (test/support/asl) over the real heartbeat steps (lib/fleet/steps/heartbeat.ts,
 * parsed with the function's own schema), the runs bucket in the loopback S3 server, the delivery
 * ledger on dynalite and a callback receiver (./simulation.ts); and the faults the tests make.
 */
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import type { PeriodMetrics, ReadHeartbeat } from '../../lib/fleet/heartbeat.ts';
import {
  type HeartbeatDeps,
  type HeartbeatExecution,
  type HeartbeatStep,
  heartbeatStepSchema,
} from '../../lib/fleet/steps/heartbeat.ts';
import {
  type ExecutionResult,
  type InvokeContext,
  routeByLogicalId,
  SimulatedStepFunctions,
} from '../support/asl/index.ts';
import type { ReceivedRequest } from '../support/callback-receiver.ts';
import {
  type CloudPeers,
  cloudBackends,
  type Definitions,
  simulatedS3,
  useCloudSimulation,
} from './simulation.ts';

export interface HeartbeatSimulation {
  /** The synthesized stack's definitions (after `before`). */
  readonly definitions: Definitions;
  /** The steps' peers (after `before`). */
  readonly peers: CloudPeers;
  /** The steps' cloud backends over the peers (the store's reads tagged with `tick`). */
  backends(tick: () => number): ReturnType<typeof cloudBackends>;
  /**
   * Simulated Step Functions over the peers' S3, each invocation of the heartbeat function going to
   * `heartbeat` with its step parsed; `sim` is the simulation itself (its clock, its events).
   */
  stepFunctions(
    heartbeat: (step: HeartbeatStep, ctx: InvokeContext, sim: SimulatedStepFunctions) => Promise<unknown>,
  ): SimulatedStepFunctions;
  /** Runs the heartbeat state machine on `sim` for `input`, named by its operation id, to its end. */
  execute(sim: SimulatedStepFunctions, input: HeartbeatExecution): Promise<ExecutionResult>;
  /**
   * The report the report step wrote for `operationId`, read from the loopback server's memory:
   * the check itself is no S3 call that could fail.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the report as JSON, each test reads what it checks
  report(operationId: string): any;
  /** The callbacks the receiver got on `path`. */
  callbacks(path: string): ReceivedRequest[];
}

/**
 * Registers the `before` that synthesizes the definitions and starts the peers, and the `after`
 * that closes them, in the calling `describe`.
 */
export function useHeartbeatSimulation(): HeartbeatSimulation {
  const cloud = useCloudSimulation();
  const started = () => ({ definitions: cloud.definitions, peers: cloud.peers });
  return {
    get definitions() {
      return cloud.definitions;
    },
    get peers() {
      return cloud.peers;
    },
    backends: (tick) => {
      const { definitions, peers } = started();
      return cloudBackends(peers, definitions.bucket, tick);
    },
    stepFunctions: (heartbeat) => {
      const { definitions, peers } = started();
      const sim: SimulatedStepFunctions = new SimulatedStepFunctions({
        s3: simulatedS3(peers, definitions),
        invoke: routeByLogicalId({
          HeartbeatFunction: (payload, ctx) => heartbeat(heartbeatStepSchema.parse(payload), ctx, sim),
        }),
      });
      return sim;
    },
    execute: (sim, input) =>
      sim
        .startExecution({ definition: started().definitions.heartbeat, name: input.operationId, input })
        .result(),
    report: (operationId) => {
      const { definitions, peers } = started();
      return JSON.parse(peers.s3.text(definitions.bucket, `runs/heartbeats/${operationId}/report.json`)!);
    },
    callbacks: (path) => started().peers.receiver.requests.filter((request) => request.path === path),
  };
}

/** `deps` for one invocation: on the simulation's clock, its hosts read through `readHost`. */
export function onVirtualClock(
  deps: HeartbeatDeps,
  sim: SimulatedStepFunctions,
  ctx: InvokeContext,
  readHost: ReadHeartbeat,
): HeartbeatDeps {
  return { ...deps, clock: () => sim.clock.now(), sleep: ctx.sleep, readHost };
}

/** The report's delivery (SPEC 5) as the tests make it. */
export const deliverReport: NonNullable<HeartbeatDeps['deliverReport']> = (url, report) =>
  deliverCallback(url, report, callbackOptionsFromEnv({}, 'test'));

/**
 * The period's metrics as a plain double: each publish keeps the counts added since the one before
 * (`published`); its timestamp and dimensions go to `rest`.
 */
export function publishedCounts(rest: Pick<PeriodMetrics, 'setTimestamp' | 'addDimension'>): {
  metrics: PeriodMetrics;
  published: Record<string, number>[];
} {
  const published: Record<string, number>[] = [];
  let stored: Record<string, number> = {};
  const metrics: PeriodMetrics = {
    addMetric: (name, _unit, value) => {
      stored[name] = value;
    },
    publishStoredMetrics: () => {
      published.push(stored);
      stored = {};
    },
    ...rest,
  };
  return { metrics, published };
}

/** A report's summary when each of its `total` hosts was read healthy. */
export const allHealthy = (total: number) => ({
  total,
  healthy: total,
  degraded: 0,
  down: 0,
  unreachable: 0,
  failed: 0,
  skipped: 0,
});

/** How often `sim` scheduled the Task state `state` (`Shard`, `HeartbeatReport`), retries included. */
export const taskRuns = (sim: SimulatedStepFunctions, state: string) =>
  sim.events.filter((event) => event.type === 'TaskScheduled' && event.state === state).length;

/** A function error as Lambda reports it (Error = its errorType): `States.TaskFailed` matches it. */
export const functionError = (name: string, message: string) => Object.assign(new Error(message), { name });

/** The function's invocation killed (as Lambda reports it). */
export const killed = () =>
  functionError('Runtime.ExitError', 'RequestId: x Error: Runtime exited with error: signal: killed');

/** What the SDK's S3Client rejects with when the connection is reset under a request. */
export const connectionReset = () =>
  Object.assign(new Error('read ECONNRESET'), {
    name: 'TimeoutError',
    code: 'ECONNRESET',
    $metadata: { attempts: 1, totalRetryDelay: 0 },
  });
