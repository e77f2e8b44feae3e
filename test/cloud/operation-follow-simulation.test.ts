// A long operation followed to its end on the SYNTHESIZED Operation state machine (SPEC 7.1, 7.3
// v2), run by the ASL simulation (test/support/asl, which fails an execution at Step Functions'
// 25,000 history events) over the real poll and deliver steps, a real sandbox host, a callback
// receiver (its hook held by a file, never killed). Time is VIRTUAL: the Wait states and the poll
// step's clock are the simulation's, so a day of following takes seconds. At a 10 s wait throughout, the execution died of its history
// after about 2,778 polls (7.7 hours) and never delivered.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATION_TIMEOUT } from '../../infra/state-machines.ts';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import { FOLLOW_MS, MAX_POLLS, pollsWithin, pollWaitSeconds } from '../../lib/fleet/steps/operation.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { type Journal, runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { type Definitions, synthesizedDefinitions } from './simulation.ts';

const HOUR = 3_600_000;
const request = { command: 'product.upgrade', product: 'deepfiler', version: '9.9.9' } as const;

/** Makes a host's upgrade hook wait, polling for real, until `release` exists in its sandbox. */
function holdUpgrade(sandbox: Sandbox): void {
  writeFileSync(
    join(sandbox.root, 'behaviour', 'deepfiler.upgrade'),
    'while [ ! -f "$root/release" ]; do sleep 0.05; done\n',
  );
}

/** Lets a held hook end (it exits 0). */
function release(sandbox: Sandbox): void {
  writeFileSync(join(sandbox.root, 'release'), '');
}

describe('a long operation on the simulated Operation state machine (virtual time)', () => {
  let definitions: Definitions;
  let receiver: CallbackReceiver;
  let sandboxes: Sandbox[];
  let fleet: Fleet;
  const SERVERS = ['web-1', 'web-2'];

  before(async () => {
    definitions = synthesizedDefinitions();
    receiver = await startCallbackReceiver([]);
    // A host each: an operation left running by a failed test never locks the next one out.
    sandboxes = SERVERS.map(() => createSandbox());
    fleet = createStaticFleet(
      SERVERS.map((name, i) => ({
        groups: ['edge'],
        target: sandboxes[i]!.host(createLocalTransport({ target: name }), name),
      })),
    );
  });
  after(async () => {
    // Every hook still held ends by itself: nothing is killed by process id.
    for (const sandbox of sandboxes ?? []) release(sandbox);
    await fleet?.close();
    for (const sandbox of sandboxes ?? []) sandbox.cleanup();
    await receiver?.close();
  });

  /**
   * Starts the operation on the host (as the API does before its 202) with a hook held until
   * released, then follows it on the simulated machine; `endAt` (virtual ms after the start), if given,
   * releases the hook so it exits 0 and its journal is final before that poll reads it.
   */
  async function follow(server: string, operationId: string, endAt?: number) {
    const sandbox = sandboxes[SERVERS.indexOf(server)]!;
    holdUpgrade(sandbox);
    const started = (await runCommand(
      fleet.target(server),
      { ...request, operationId },
      { detach: true },
    )) as Journal;
    assert.equal(started.status, 'running');
    const sim = new SimulatedStepFunctions({
      seed: 7,
      s3: { getObject: async () => '', putObject: async () => {} },
      invoke: routeByLogicalId({
        WorkerFunction: async (payload) => {
          const step = workerStepSchema.parse(payload);
          steps.push(step.step);
          if (step.step === 'operation-poll' && endAt !== undefined && !ended) {
            if (sim.clock.now() - start >= endAt) {
              ended = true;
              await endHook(sandbox, server, started);
            }
          }
          return runWorkerStep(deps, step);
        },
      }),
    });
    const start = sim.clock.now();
    let ended = false;
    const steps: string[] = [];
    const deps: StepDeps = {
      fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      blobs: createMemoryBlobStore(),
      deliver: (url, result) =>
        deliverCallback(url, result, { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5 }),
      now: () => new Date(sim.clock.now()),
    };
    const execution = await sim
      .startExecution({
        definition: definitions.operation,
        name: operationId,
        input: {
          operationId,
          server,
          request: { ...request },
          callbackUrl: `${receiver.url}/${operationId}`,
          startedAt: sim.clock.iso(),
        },
      })
      .result();
    const callbacks = receiver.requests.filter((r) => r.path === `/${operationId}`);
    return { execution, callbacks, steps, hours: (execution.stopDate - execution.startDate) / HOUR };
  }

  /** Lets the hook end (it exits 0) and waits until the journal is final. */
  async function endHook(sandbox: Sandbox, server: string, journal: Journal) {
    release(sandbox);
    for (let i = 0; i < 200; i += 1) {
      const now = (await runCommand(fleet.target(server), {
        command: 'operation.get',
        operationId: journal.id,
      })) as Journal;
      if (now.status !== 'running') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail('the hook did not end');
  }

  it('a hook that runs 23 hours is followed to its end, within the history, and delivered once', async () => {
    const { execution, callbacks, steps, hours } = await follow('web-1', 'op_follow_23h', 23 * HOUR);
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const polls = steps.filter((s) => s === 'operation-poll').length;
    assert.ok(hours >= 23 && hours < 23.2, `delivered ${hours} h after the start, soon after the hook ended`);
    assert.ok(polls <= pollsWithin(23.2 * HOUR), `${polls} polls`);
    assert.deepEqual(
      steps.filter((s) => s === 'operation-deliver'),
      ['operation-deliver'],
    );
    assert.equal(callbacks.length, 1);
    const body = JSON.parse(callbacks[0]!.body);
    assert.equal(body.status, 'succeeded');
    assert.equal(body.targets[0].status, 'succeeded');
    assert.equal(body.targets[0].result.status, 'succeeded', 'the journal as it ended');
  });

  it('the waits grow from 10 s to 5 minutes; the time limit holds a day of following, its polls well inside the history', () => {
    assert.equal(pollWaitSeconds(1), 10);
    assert.equal(pollWaitSeconds(30), 10);
    assert.ok(pollWaitSeconds(40) > 10 && pollWaitSeconds(40) < 300);
    assert.equal(pollWaitSeconds(1_000), 300);
    const limitMs = OPERATION_TIMEOUT.toMilliseconds();
    assert.ok(
      limitMs >= FOLLOW_MS + 6 * HOUR,
      'the last poll, the deliver step and their retries after a day',
    );
    // Nine history events a poll (Wait, Task, Choice): even polling to the time limit fits.
    assert.ok(pollsWithin(limitMs) * 9 < 25_000 / 2, `${pollsWithin(limitMs)} polls in the time limit`);
    assert.ok(MAX_POLLS > pollsWithin(FOLLOW_MS), 'the count never ends the machine’s day early');
  });

  it('a hook still running after a day: following ends, and what is known is delivered once', async () => {
    const { execution, callbacks, steps, hours } = await follow('web-2', 'op_follow_day');
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    assert.ok(hours >= FOLLOW_MS / HOUR && hours < FOLLOW_MS / HOUR + 0.2, `delivered after ${hours} h`);
    const polls = steps.filter((s) => s === 'operation-poll').length;
    assert.ok(polls <= pollsWithin(FOLLOW_MS) + 1, `${polls} polls`);
    assert.ok(polls * 9 < 25_000 / 4, 'a day of following is well inside the history');
    assert.equal(callbacks.length, 1);
    const body = JSON.parse(callbacks[0]!.body);
    assert.equal(body.status, 'failed');
    assert.equal(body.targets[0].error.code, 'TRANSPORT_TIMEOUT');
    assert.match(body.targets[0].error.message, /still running when following ended/);
  });
});
