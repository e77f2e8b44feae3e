// A fleet upgrade of 10,000 targets through the SYNTHESIZED fleet-run state machine, run by the
// ASL simulation (test/support/asl: Step Functions cannot run here) over the real step handlers
// (lib/fleet/steps, parsed with the worker function's own schema) and their real cloud peers:
// dynalite for the run store and delivery ledger, the loopback S3 server for the runs bucket
// (ItemReader, ResultWriter, reports), a loopback callback receiver. At this size each target's
// work is a host double (test/support/host-double.ts): the engine, not the host, is under test;
// test/cloud/sandbox-simulation.test.ts runs the same machine over real sandbox hosts.
//
// Injected: 1 % of hosts fail their upgrade, 2 % are unreachable (the first canary among them),
// 5 % of invocations are throttled (Lambda.TooManyRequestsException, the function never runs),
// 3 % are delivered twice (the step runs twice, concurrently), 1 % fail on their own before the
// step runs (the run store or the runs bucket did not answer: retried, never a failed target), and
// the execution is started twice. Time is the simulation's virtual clock; the handlers' own I/O is real.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import type { StepDeps } from '../../lib/fleet/steps/deps.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { LambdaServiceError, routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import { createRandom } from '../support/asl/virtual-clock.ts';
import { createHostDoubles, type HostDoubles } from '../support/host-double.ts';
import {
  type CloudPeers,
  cloudBackends,
  type Definitions,
  invocation,
  simulatedS3,
  startCloudPeers,
  synthesizedDefinitions,
} from './simulation.ts';

const TARGETS = Number(process.env['SIM_TARGETS'] ?? 10_000);
const MAX_ERRORS = 10;
const MAX_CONCURRENCY = 500;
const CAP = 200;

describe(`a fleet run of ${TARGETS} targets on the simulated state machine`, () => {
  let definitions: Definitions;
  let peers: CloudPeers;
  let hosts: HostDoubles;
  let backends: ReturnType<typeof cloudBackends>;
  let outcome: Awaited<ReturnType<typeof runOnce>>;
  const gateOf = new Map<string, number | undefined>();
  const stats = { invocations: 0, throttled: 0, duplicated: 0, stepErrors: 0 };

  async function runOnce() {
    // Seeded, so that a failure here can be replayed.
    const rand = createRandom(11);
    const deps: StepDeps = {
      fleet: hosts.fleet,
      store: backends.store,
      ledger: backends.ledger,
      blobs: backends.blobs,
      deliver: (url, result) =>
        deliverCallback(url, result, {
          ...callbackOptionsFromEnv({}, 'test'),
          backoffBaseMs: 5,
          backoffMaxMs: 10,
        }),
      workFor: () => {
        const work = hosts.work();
        return {
          ...work,
          runTarget: (server, signal) => {
            gateOf.set(server, invocation.getStore()?.gateStartSeq);
            return work.runTarget(server, signal);
          },
        };
      },
      concurrencyCap: CAP,
      // One warm container's memory of stopped runs (functions/composition.ts keeps one per cold start).
      stoppedRuns: new Set(),
    };
    const step = (payload: unknown) =>
      invocation.run({}, () => runWorkerStep(deps, workerStepSchema.parse(payload)));
    const sim = new SimulatedStepFunctions({
      s3: simulatedS3(peers, definitions),
      seed: 7,
      invoke: routeByLogicalId({
        WorkerFunction: async (payload) => {
          stats.invocations += 1;
          if (rand() < 0.05) {
            stats.throttled += 1;
            throw new LambdaServiceError('TooManyRequestsException', 'Rate exceeded');
          }
          if ((payload as { step?: string }).step === 'target' && rand() < 0.01) {
            stats.stepErrors += 1;
            throw new Error('the run store did not answer');
          }
          if (rand() < 0.03) {
            stats.duplicated += 1;
            const [first] = await Promise.all([step(payload), step(payload)]);
            return first;
          }
          return step(payload);
        },
      }),
    });
    const input = {
      operationId: 'op_rollout10k',
      startedAt: '2026-11-27T12:00:00.000Z',
      request: {
        select: 'all',
        product: 'deepfiler',
        version: '3.2.1',
        maxConcurrency: MAX_CONCURRENCY,
        maxErrors: MAX_ERRORS,
        canary: 2,
        callbackUrl: peers.receiver.url,
      },
    };
    const started = Date.now();
    const execution = sim.startExecution({ definition: definitions.fleet, name: input.operationId, input });
    const again = sim.startExecution({ definition: definitions.fleet, name: input.operationId, input });
    assert.equal(again.executionArn, execution.executionArn, 'started twice: one execution');
    const result = await execution.result();
    return { result, wallMs: Date.now() - started, virtualMs: result.stopDate - result.startDate, sim };
  }

  before(async () => {
    definitions = synthesizedDefinitions();
    peers = await startCloudPeers(definitions.bucket);
    hosts = createHostDoubles(TARGETS, { resultBytes: 1500 });
    hosts.behaviour.set('host-00001', 'unreachable');
    for (let i = 0; i < TARGETS; i++) {
      const name = hosts.names[i]!;
      if (i > 1 && i % 100 === 57) hosts.behaviour.set(name, 'fail');
      else if (i > 1 && i % 50 === 13) hosts.behaviour.set(name, 'unreachable');
    }
    backends = cloudBackends(peers, definitions.bucket, hosts.tick);
    outcome = await runOnce();
    console.log(
      `# ${TARGETS} targets: ${outcome.wallMs} ms wall, ${outcome.virtualMs} ms virtual; ` +
        `${stats.invocations} invocations, ${stats.throttled} throttled, ${stats.duplicated} delivered twice, ` +
        `${stats.stepErrors} step errors; ` +
        `${hosts.touches.length} hosts touched`,
    );
  });
  after(() => peers?.close());

  const finalResult = async () =>
    JSON.parse((await backends.blobs.get('runs/op_rollout10k/result.json')) ?? 'null');

  it('succeeds, every target reported once, in selection order', async () => {
    assert.equal(outcome.result.status, 'SUCCEEDED', JSON.stringify(outcome.result));
    const result = await finalResult();
    assert.equal(result.targets.length, TARGETS);
    assert.deepEqual(
      result.targets.map((t: { server: string }) => t.server),
      hosts.names,
    );
  });

  it('replaces the unreachable canary by the next target', async () => {
    const result = await finalResult();
    assert.deepEqual(
      result.targets.slice(0, 3).map((t: { status: string }) => t.status),
      ['unreachable', 'succeeded', 'succeeded'],
    );
    assert.deepEqual(
      hosts.touches.slice(0, 3).map((t) => t.server),
      ['host-00001', 'host-00002', 'host-00003'],
      'one canary at a time',
    );
  });

  it('starts no target after the failure count exceeded maxErrors; skipped targets were never touched', async () => {
    const result = await finalResult();
    const exceeded = backends.failureEvents.find((event) => event.count > MAX_ERRORS);
    assert.ok(exceeded, 'the run went past maxErrors');
    const touched = new Set(hosts.touches.map((t) => t.server));
    // A step delivered twice at once may reach its host twice (a real host answers the second with
    // the journal of the same operation id); one delivered again later answers the kept report.
    assert.ok(
      hosts.touches.length - touched.size <= stats.duplicated,
      'a second touch only from a duplicate',
    );
    const canaries = new Set(hosts.names.slice(0, 3));
    for (const touch of hosts.touches) {
      if (canaries.has(touch.server)) continue;
      const gate = gateOf.get(touch.server);
      assert.ok(gate !== undefined, `${touch.server}: its step read the count before touching it`);
      assert.ok(gate < exceeded.seq, `${touch.server} started after the count exceeded maxErrors`);
    }
    const skipped = result.targets.filter((t: { status: string }) => t.status === 'skipped');
    assert.ok(skipped.length > 1000, `the rest is skipped (${skipped.length})`);
    for (const target of skipped)
      assert.ok(!touched.has(target.server), `${target.server} skipped but touched`);
    assert.equal(touched.size + skipped.length, TARGETS, 'skipped = never touched');
  });

  it('lets every started target finish: no child aborted, none failed for throttling, failures counted once', async () => {
    const result = await finalResult();
    const byServer = new Map(
      result.targets.map((t: { server: string; status: string }) => [t.server, t.status]),
    );
    for (const touch of hosts.touches) {
      assert.ok(touch.finishedSeq !== undefined, `${touch.server} finished`);
      const expected = (
        { ok: 'succeeded', fail: 'failed', unreachable: 'unreachable' } as Record<string, string>
      )[hosts.behaviour.get(touch.server) ?? 'ok'];
      assert.equal(byServer.get(touch.server), expected, touch.server);
    }
    const aborted = outcome.sim.events.filter(
      (event) => event.type === 'MapItemFinished' && (event as { status?: string }).status === 'ABORTED',
    );
    assert.equal(aborted.length, 0);
    // A host touched twice (a step delivered twice at once) is still one failed target.
    const failedHosts = new Set(
      hosts.touches.filter((t) => hosts.behaviour.get(t.server) === 'fail').map((t) => t.server),
    );
    assert.equal(result.summary.failed, failedHosts.size);
    const record = await backends.store.get('op_rollout10k');
    assert.equal(record?.failures, result.summary.failed, 'each failure counted once');
    assert.equal(record?.status, 'partial');
    assert.ok(
      stats.throttled > 0 && stats.duplicated > 0 && stats.stepErrors > 0,
      'throttling, duplicates and step errors were injected',
    );
  });

  it('calls back exactly once, with a body under 1 MiB that points at the whole result', async () => {
    assert.equal(peers.receiver.requests.length, 1);
    const body = peers.receiver.requests[0]!.body;
    assert.ok(Buffer.byteLength(body) <= 1024 * 1024, `${Buffer.byteLength(body)} bytes`);
    const posted = JSON.parse(body);
    assert.equal(posted.operationId, 'op_rollout10k');
    assert.equal(posted.summary.total, TARGETS);
    assert.equal(posted.truncated, true);
    assert.match(posted.resultUrl, /result\.json\?.*X-Amz-Signature=/);
    const result = await finalResult();
    const notSucceeded = result.targets.filter((t: { status: string }) => t.status !== 'succeeded').length;
    assert.ok(
      posted.targets.filter((t: { status: string }) => t.status !== 'succeeded').length === notSucceeded,
      'every target that did not succeed is in the body',
    );
  });
});
