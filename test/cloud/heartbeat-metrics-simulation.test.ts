// SPEC 7.2: a period's CloudWatch metrics are the fleet's counts for that period, every host counted
// once, whatever step of the heartbeat's execution is run again. On the SYNTHESIZED heartbeat state
// machine run by the ASL simulation over the real steps, the runs bucket in the loopback S3 server,
// the delivery ledger on dynalite and a callback receiver, in virtual time (as
// heartbeat-shard-retry-simulation.test.ts); the metrics are Powertools' own `Metrics`, its EMF
// documents read back from what it writes to stdout, as the function's are in Lambda.
//
// Why: each shard published its own counts, and a shard run again after it had published (its
// record not written: S3 failed on every try, or the invocation was killed) published its hosts'
// counts a second time, doubling them in CloudWatch for the period. The report step now publishes
// the period's counts once, through the delivery ledger, stamped with the period's start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createDynamoDeliveryLedger } from '../../lib/cloud/dynamo-delivery-ledger.ts';
import { HEARTBEAT_METRICS, type PeriodMetrics } from '../../lib/fleet/heartbeat.ts';
import type { DeliveryLedger } from '../../lib/fleet/run-store.ts';
import type { BlobStore } from '../../lib/fleet/steps/deps.ts';
import {
  type HeartbeatDeps,
  type HeartbeatExecution,
  type HeartbeatStep,
  heartbeatRunId,
  runHeartbeatStep,
} from '../../lib/fleet/steps/heartbeat.ts';
import { heartbeatSettings } from '../fleet/heartbeat-settings.ts';
import type { SimulatedStepFunctions } from '../support/asl/index.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';
import {
  connectionReset,
  deliverReport,
  killed,
  onVirtualClock,
  taskRuns,
  useHeartbeatSimulation,
} from './heartbeat-setup.ts';
import type { cloudBackends } from './simulation.ts';

const HOSTS = 40;
const PERIOD_MS = 300_000;
const RETRIED_SHARD = 1;
const NAMESPACE = 'CloudiqBootstrapTest';
const SERVICE = 'cloudiq-bootstrap-test';

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/**
 * Powertools' Metrics, as the heartbeat function makes it, behind a thin spy: each call goes to
 * Powertools, and what it writes to stdout while it publishes (one EMF document a line) is kept.
 */
function capturedMetrics(): { metrics: PeriodMetrics; documents: Emf[] } {
  const real = new Metrics({ namespace: NAMESPACE, serviceName: SERVICE });
  const documents: Emf[] = [];
  const metrics: PeriodMetrics = {
    addMetric: (name, unit, value) => real.addMetric(name, unit, value),
    setTimestamp: (timestamp) => real.setTimestamp(timestamp),
    addDimension: (name, value) => real.addDimension(name, value),
    publishStoredMetrics: () => {
      for (const line of captureStdout(() => real.publishStoredMetrics())) documents.push(JSON.parse(line));
    },
  };
  return { metrics, documents };
}

/** The lines `fn` writes to stdout (synchronously, as Powertools' Console does). */
function captureStdout(fn: () => void): string[] {
  const original = process.stdout.write;
  const lines: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(
      ...String(chunk)
        .split('\n')
        .filter((line) => line !== ''),
    );
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = original;
  }
  return lines;
}

/**
 * This period's number, in real time rather than the simulation's: Powertools (and CloudWatch) take
 * timestamps of the last 14 days only. Taken once, so no two cases name the same period.
 */
const THIS_PERIOD = Math.floor(Date.now() / PERIOD_MS);

/** The execution of the period `periodsAgo` periods before this one: its name and start, as the schedule gives them. */
function scheduledRun(periodsAgo: number): { input: HeartbeatExecution; periodStart: number } {
  const periodStart = (THIS_PERIOD - periodsAgo) * PERIOD_MS;
  const startedAt = new Date(periodStart + 3_000);
  return {
    input: { operationId: heartbeatRunId(startedAt, PERIOD_MS), startedAt: startedAt.toISOString() },
    periodStart,
  };
}

/** The counts a period of `HOSTS` healthy hosts publishes. */
const allHealthy = Object.fromEntries(
  Object.entries(HEARTBEAT_METRICS).map(([status, name]) => [name, status === 'healthy' ? HOSTS : 0]),
);

/** One EMF document, the period's counts of every host, at the period's start, with `dimensions`. */
function assertPeriodCounts(documents: Emf[], periodStart: number, dimensions: Record<string, string> = {}) {
  assert.equal(documents.length, 1, `the counts published once, not ${documents.length} times`);
  const [emf] = documents as [Emf];
  assert.equal(emf._aws.Timestamp, periodStart, "stamped with the period's start");
  const [directive] = emf._aws.CloudWatchMetrics;
  assert.ok(directive);
  assert.equal(directive.Namespace, NAMESPACE);
  assert.deepEqual(directive.Dimensions, [['service', ...Object.keys(dimensions)]]);
  assert.equal(emf['service'], SERVICE);
  for (const [name, value] of Object.entries(dimensions)) assert.equal(emf[name], value);
  assert.deepEqual(
    directive.Metrics.map((metric) => [metric.Name, metric.Unit]).sort(),
    Object.values(HEARTBEAT_METRICS)
      .map((name) => [name, 'Count'])
      .sort(),
  );
  assert.deepEqual(
    Object.fromEntries(Object.values(HEARTBEAT_METRICS).map((name) => [name, emf[name]])),
    allHealthy,
    'every host counted once',
  );
}

/** How one invocation of a step goes wrong, on purpose; `work` runs the real step. */
type Fault = (
  step: HeartbeatStep,
  retryCount: number,
  deps: HeartbeatDeps,
  work: (deps: HeartbeatDeps) => Promise<unknown>,
) => Promise<unknown> | undefined;

interface Run {
  hosts: HostDoubles;
  documents: Emf[];
  /** The hosts each `heartbeat` log line names, in order. */
  logged: string[];
  warnings: Record<string, unknown>[];
  sim: SimulatedStepFunctions;
  result: Awaited<ReturnType<ReturnType<SimulatedStepFunctions['startExecution']>['result']>>;
  callbacks: number;
}

describe("a period's heartbeat metrics count every host once, whatever step runs again (virtual time)", () => {
  const hb = useHeartbeatSimulation();

  /** The period's execution on the simulated state machine, every invocation through `fault`. */
  async function runPeriod(
    input: HeartbeatExecution,
    fault: Fault,
    ledger?: (backends: ReturnType<typeof cloudBackends>) => DeliveryLedger,
  ): Promise<Run> {
    const hosts = createHostDoubles(HOSTS);
    const backends = hb.backends(hosts.tick);
    const { metrics, documents } = capturedMetrics();
    const logged: string[] = [];
    const warnings: Record<string, unknown>[] = [];
    const path = `/${input.operationId}`;
    const deps: HeartbeatDeps = {
      fleet: hosts.fleet,
      blobs: backends.blobs,
      ledger: ledger ? ledger(backends) : backends.ledger,
      metrics,
      logger: {
        info: (message, attributes) => {
          if (message === 'heartbeat') logged.push(String(attributes['server']));
        },
        warn: (message, attributes) => {
          if (message === 'heartbeat') logged.push(String(attributes['server']));
          else warnings.push({ ...attributes, message });
        },
      },
      settings: heartbeatSettings({ periodMs: PERIOD_MS, maxShards: 4 }),
      callbackUrl: `${hb.peers.receiver.url}${path}`,
      deliverReport,
    };
    const sim = hb.stepFunctions((step, ctx, sim) => {
      const invocation = onVirtualClock(
        deps,
        sim,
        ctx,
        hosts.readHeartbeat(() => 1000, ctx.sleep),
      );
      const work = (d: HeartbeatDeps) => runHeartbeatStep(d, step);
      return fault(step, ctx.retryCount, invocation, work) ?? work(invocation);
    });
    const result = await hb.execute(sim, input);
    const callbacks = hb.callbacks(path).length;
    return { hosts, documents, logged, warnings, sim, result, callbacks };
  }

  const shardRuns = (sim: SimulatedStepFunctions) => taskRuns(sim, 'Shard');
  const reportRuns = (sim: SimulatedStepFunctions) => taskRuns(sim, 'HeartbeatReport');

  /** The retried shard's first attempt reads its hosts, then fails as `failWrite` makes its record's write fail. */
  const shardFaults: { title: string; failWrite: (fail: (error: Error) => void) => Promise<void> }[] = [
    {
      title: 'its record cannot be written (S3 fails on every try), so the shard fails and runs again',
      failWrite: async () => {
        throw connectionReset();
      },
    },
    {
      title: 'its invocation is killed while it writes its record, and runs again',
      failWrite: (fail) => {
        fail(killed());
        return new Promise(() => {});
      },
    },
  ];

  for (const [index, { title, failWrite }] of shardFaults.entries()) {
    it(`a shard that read its hosts fails after (${title}): its hosts counted once in the period`, async () => {
      const { input, periodStart } = scheduledRun(1 + index);
      const shardKey = `runs/heartbeats/${input.operationId}/shard-${RETRIED_SHARD}.json`;
      let writesFailed = 0;
      const run = await runPeriod(input, (step, retryCount, deps, work) => {
        if (step.step !== 'heartbeat-shard' || step.item.shard !== RETRIED_SHARD || retryCount > 0) return;
        let failed: ((error: Error) => void) | undefined;
        const failure = new Promise<never>((_, reject) => {
          failed = reject;
        });
        const blobs: BlobStore = {
          ...deps.blobs,
          put: (key, body) => {
            if (key !== shardKey) return deps.blobs.put(key, body);
            writesFailed += 1;
            return failWrite(failed!);
          },
        };
        return Promise.race([work({ ...deps, blobs }), failure]);
      });
      assert.equal(run.result.status, 'SUCCEEDED', JSON.stringify(run.result));
      assert.ok(writesFailed >= 1, "the first attempt's record was not written");
      assert.equal(shardRuns(run.sim), 5, 'four shards, one run again');
      const retried = run.hosts.names.slice(RETRIED_SHARD * 10, (RETRIED_SHARD + 1) * 10);
      assert.equal(run.hosts.touches.length, HOSTS + retried.length, "the retried shard's hosts read twice");

      assertPeriodCounts(run.documents, periodStart);

      // Each reading is logged, a host read again logged again: a log line is a reading, not a count.
      assert.equal(run.logged.length, HOSTS + retried.length);
      for (const server of retried) assert.equal(run.logged.filter((s) => s === server).length, 2, server);
      const report = hb.report(input.operationId);
      assert.equal(report.summary.healthy, HOSTS);
      assert.equal(run.callbacks, 1);
    });
  }

  it('the report step killed after it published runs again: nothing published a second time (at most once)', async () => {
    const { input, periodStart } = scheduledRun(3);
    const run = await runPeriod(input, (step, retryCount, deps, work) => {
      if (step.step !== 'heartbeat-report' || retryCount > 0) return;
      // Its first invocation does all its work (counts published, report POSTed), then dies.
      return work(deps).then(() => Promise.reject(killed()));
    });
    assert.equal(run.result.status, 'SUCCEEDED', JSON.stringify(run.result));
    assert.equal(reportRuns(run.sim), 2, 'the report step ran again');
    assert.equal(shardRuns(run.sim), 4);
    assertPeriodCounts(run.documents, periodStart);
    assert.deepEqual(run.warnings, []);
    assert.deepEqual((run.result.output as { metrics?: unknown }).metrics, { published: true });
    assert.equal(run.callbacks, 1, 'the report POSTed once');
  });

  it('the report step dies after it published but before the ledger recorded it: the retry publishes nothing, and says so', async () => {
    const { input, periodStart } = scheduledRun(4);
    let recordsRefused = 0;
    const run = await runPeriod(
      input,
      (step, retryCount, deps, work) => {
        if (step.step !== 'heartbeat-report' || retryCount > 0) return;
        return work(deps).then(() => Promise.reject(killed()));
      },
      () => {
        // The ledger's own client, whose first completion of a record (Powertools' UpdateItem after
        // the EMF line was written) DynamoDB refuses: the claim stays held, as when the invocation
        // dies between the two. A short wait for it: the real one is three minutes.
        const client = hb.peers.dynamo.client();
        client.middlewareStack.add(
          (next, context) => async (args) => {
            if (context.commandName === 'UpdateItemCommand' && recordsRefused === 0) {
              recordsRefused += 1;
              throw Object.assign(new Error('Internal server error'), {
                name: 'InternalServerError',
                $metadata: { httpStatusCode: 500 },
              });
            }
            return next(args);
          },
          { step: 'initialize', name: 'refuseFirstCompletion' },
        );
        return createDynamoDeliveryLedger({ client, tableName: hb.peers.tableName, pollMs: 5, waitMs: 300 });
      },
    );
    assert.equal(run.result.status, 'SUCCEEDED', JSON.stringify(run.result));
    assert.ok(recordsRefused >= 1);
    assert.equal(reportRuns(run.sim), 2, 'the report step ran again');
    assertPeriodCounts(run.documents, periodStart);
    const output = run.result.output as { metrics?: { published: boolean; lastError?: string } };
    assert.equal(output.metrics?.published, false, 'the retry published nothing');
    assert.match(output.metrics?.lastError ?? '', /in progress elsewhere/);
    assert.equal(run.warnings.length, 1, 'and said so');
    assert.equal(run.warnings[0]!['message'], 'heartbeat.metrics');
    assert.equal(run.warnings[0]!['operationId'], input.operationId);
    assert.match(String(run.warnings[0]!['reason']), /not published by this attempt/);
    assert.equal(run.callbacks, 1);
  });

  it('a run started by hand ({ select }) publishes its counts once, apart from the fleet’s (run=manual)', async () => {
    const scheduled = scheduledRun(5);
    const input = {
      operationId: 'op_heartbeat_by_hand',
      startedAt: scheduled.input.startedAt,
      select: 'all',
      manual: true as const,
    };
    const run = await runPeriod(input, (step, retryCount, deps, work) => {
      // A shard run again after it read its hosts, and the report step run again after it published.
      if (step.step === 'heartbeat-shard' && step.item.shard === RETRIED_SHARD && retryCount === 0) {
        return work(deps).then(() => Promise.reject(killed()));
      }
      if (step.step === 'heartbeat-report' && retryCount === 0) {
        return work(deps).then(() => Promise.reject(killed()));
      }
      return undefined;
    });
    assert.equal(run.result.status, 'SUCCEEDED', JSON.stringify(run.result));
    assert.equal(reportRuns(run.sim), 2);
    assertPeriodCounts(run.documents, scheduled.periodStart, { run: 'manual' });
  });
});
