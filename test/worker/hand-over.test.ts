// The worker's hand-over at the end of an invocation: with an injected clock that says little
// time is left, a provision and a fleet upgrade each span three invocations, handed over through
// the real LambdaClient to a loopback Lambda (so the continuation travels as JSON, as in AWS);
// every hook runs once, the callback is sent once at the real end, and the journals agree.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { invokeAsync } from '../../functions/composition.ts';
import { createStaticFleet } from '../../lib/api/static-fleet.ts';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { type Journal, runCommand } from '../../lib/operations/index.ts';
import type { Fleet } from '../../lib/orchestrate/fleet.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type WorkerEvent, type WorkerJob, workerEventSchema } from '../../lib/worker/job.ts';
import { runWorker, type WorkerDeps } from '../../lib/worker/run-job.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import {
  createTestLambdaClient,
  type LambdaTestServer,
  startLambdaServer,
} from '../support/lambda-server.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const HOSTS = ['web-1', 'web-2', 'web-3'] as const;
const MINUTES_15 = 15 * 60_000;

/** A hook that counts its runs and, when `blocked`, waits for `release` in its sandbox. */
function hook(sandbox: Sandbox, product: string, action: 'provision' | 'upgrade', blocked: boolean): void {
  const wait = blocked ? 'while [ ! -f "$root/release" ]; do sleep 0.05; done\n' : '';
  writeFileSync(
    join(sandbox.root, 'behaviour', `${product}.${action}`),
    `echo run >> "$root/out/$name.runs"\n${wait}`,
  );
}

function runs(sandbox: Sandbox, product: string, action: string): number {
  const file = join(sandbox.root, 'out', `${product}.${action}.runs`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(condition(), 'condition not reached within 10 s');
}

describe('worker hand-over across invocations', () => {
  let lambda: LambdaTestServer;
  let receiver: CallbackReceiver;
  let sandboxes: Record<(typeof HOSTS)[number], Sandbox>;
  let fleet: Fleet;
  /** The injected clock: plenty of time, or little (below the hand-over reserve). */
  let timeIsShort = false;

  before(async () => {
    [lambda, receiver] = await Promise.all([
      startLambdaServer(),
      startCallbackReceiver([], { secret: 's3cret' }),
    ]);
  });
  after(async () => {
    await Promise.all([lambda.close(), receiver.close()]);
  });
  beforeEach(async () => {
    await fleet?.close();
    for (const sandbox of Object.values(sandboxes ?? {})) sandbox.cleanup();
    sandboxes = { 'web-1': createSandbox(), 'web-2': createSandbox(), 'web-3': createSandbox() };
    fleet = createStaticFleet(
      HOSTS.map((name) => ({
        groups: ['edge'],
        target: sandboxes[name].host(createLocalTransport({ target: name }), name),
      })),
    );
    receiver.requests.length = 0;
    lambda.invocations.length = 0;
    timeIsShort = false;
  });
  after(async () => {
    await fleet.close();
    for (const sandbox of Object.values(sandboxes)) sandbox.cleanup();
  });

  const deps = (): WorkerDeps => {
    const options = { ...callbackOptionsFromEnv({ CALLBACK_SECRET: 's3cret' }, 'test') };
    return {
      fleet,
      deliver: (url, result) => deliverCallback(url, result, options),
      remainingTimeMs: () => (timeIsShort ? 10_000 : MINUTES_15),
      handOver: (event) => invokeAsync(createTestLambdaClient(lambda), 'cloudiq-worker', event),
      clockCheckMs: 20,
    };
  };
  /** The event the last hand-over sent, as the next invocation's handler parses it. */
  const handedOver = (): WorkerEvent => workerEventSchema.parse(lambda.invocations.at(-1)!.event);

  it('a provision spans three invocations, runs each hook once and calls back once', async () => {
    const web1 = sandboxes['web-1'];
    hook(web1, 'haproxy', 'provision', true);
    hook(web1, 'deepfiler', 'provision', false);
    const operationId = 'op_provision_handover';
    // As the API does: start detached, then hand the job to the worker.
    const host = fleet.target('web-1');
    await runCommand(host, { command: 'server.provision', role: 'edge', operationId }, { detach: true });
    const job: WorkerJob = {
      kind: 'server',
      operationId,
      server: 'web-1',
      request: { command: 'server.provision', role: 'edge' },
      callbackUrl: `${receiver.url}/done`,
    };

    const first = runWorker(deps(), { job });
    await until(() => existsSync(join(web1.root, 'out', 'haproxy.provision.runs')));
    timeIsShort = true;
    assert.equal((await first).state, 'handedOver');
    const second = handedOver();
    assert.equal(second.continuation?.invocation, 2);
    assert.equal(second.continuation?.done.length, 0);

    assert.equal((await runWorker(deps(), second)).state, 'handedOver', 'too little time: handed over again');
    const third = handedOver();
    assert.equal(third.continuation?.invocation, 3);
    assert.equal(receiver.requests.length, 0, 'no callback before the end');

    writeFileSync(join(web1.root, 'release'), '');
    timeIsShort = false;
    const last = await runWorker(deps(), third);
    assert.equal(last.state, 'finished');
    assert.equal(lambda.invocations.length, 2);
    if (last.state !== 'finished') return;
    assert.equal(last.result.status, 'succeeded');
    assert.equal(
      last.result.startedAt,
      second.continuation?.startedAt,
      'the run started with the first invocation',
    );
    assert.deepEqual(last.result.callback, { delivered: true, attempts: 1 });

    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0]!.signatureValid, true);
    assert.equal(receiver.requests[0]!.headers['idempotency-key'], operationId);
    const journal = (await runCommand(host, { command: 'operation.get', operationId })) as Journal;
    assert.equal(journal.status, 'succeeded');
    assert.deepEqual(JSON.parse(receiver.requests[0]!.body).targets[0].result, journal);
    assert.equal(runs(web1, 'haproxy', 'provision'), 1);
    assert.equal(runs(web1, 'deepfiler', 'provision'), 1);
  });

  it('a fleet upgrade keeps what is done, follows what runs, starts the rest, and calls back once', async () => {
    for (const name of HOSTS) hook(sandboxes[name], 'deepfiler', 'upgrade', name === 'web-2');
    const job: WorkerJob = {
      kind: 'fleet',
      operationId: 'op_fleet_handover',
      select: 'group:edge',
      product: 'deepfiler',
      version: '3.2.1',
      maxConcurrency: 1,
      callbackUrl: receiver.url,
    };
    const first = runWorker(deps(), { job });
    await until(() => existsSync(join(sandboxes['web-2'].root, 'out', 'deepfiler.upgrade.runs')));
    timeIsShort = true;
    assert.equal((await first).state, 'handedOver');
    const second = handedOver();
    assert.deepEqual(second.continuation?.targets, ['web-1', 'web-2', 'web-3']);
    assert.deepEqual(
      second.continuation?.done.map((report) => [report.server, report.status]),
      [['web-1', 'succeeded']],
    );
    assert.equal(second.continuation?.canariesLeft, 0, 'the canary (web-1) is done');

    assert.equal((await runWorker(deps(), second)).state, 'handedOver');
    const third = handedOver();
    assert.equal(third.continuation?.done.length, 1);

    writeFileSync(join(sandboxes['web-2'].root, 'release'), '');
    timeIsShort = false;
    const last = await runWorker(deps(), third);
    assert.equal(last.state, 'finished');
    if (last.state !== 'finished') return;
    assert.equal(last.result.status, 'succeeded');
    assert.deepEqual(last.result.summary, { total: 3, succeeded: 3, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(
      last.result.targets.map((target) => target.server),
      ['web-1', 'web-2', 'web-3'],
    );
    assert.equal(receiver.requests.length, 1);
    for (const name of HOSTS) {
      assert.equal(runs(sandboxes[name], 'deepfiler', 'upgrade'), 1, `${name} upgraded once`);
      const journal = (await runCommand(fleet.target(name), {
        command: 'operation.get',
        operationId: 'op_fleet_handover',
      })) as Journal;
      assert.equal(journal.status, 'succeeded');
    }
  });

  it('hands the callback itself over when too little time is left to deliver it', async () => {
    const job: WorkerJob = {
      kind: 'fleet',
      operationId: 'op_deliver_later',
      select: 'web-3',
      product: 'haproxy',
      version: '1.1',
      callbackUrl: receiver.url,
    };
    // Enough to follow (above the 30 s reserve), not enough for every retry of a callback.
    const outcome = await runWorker({ ...deps(), remainingTimeMs: () => 60_000 }, { job });
    assert.equal(outcome.state, 'handedOver');
    const next = handedOver();
    assert.equal((next.continuation!.result as { status: string }).status, 'succeeded');
    assert.equal(receiver.requests.length, 0);
    const last = await runWorker(deps(), next);
    assert.equal(last.state, 'finished');
    assert.equal(receiver.requests.length, 1);
    if (last.state === 'finished') assert.deepEqual(last.result.callback, { delivered: true, attempts: 1 });
  });

  it('gives up following after maxInvocations, reporting what is left, and still calls back', async () => {
    hook(sandboxes['web-1'], 'haproxy', 'upgrade', true);
    const job: WorkerJob = {
      kind: 'server',
      operationId: 'op_stuck',
      server: 'web-1',
      request: { command: 'product.upgrade', product: 'haproxy', version: '9' },
      callbackUrl: receiver.url,
    };
    timeIsShort = true;
    let event: WorkerEvent = { job };
    for (let invocation = 1; invocation <= 2; invocation++) {
      const outcome = await runWorker({ ...deps(), maxInvocations: 2 }, event);
      assert.equal(outcome.state, 'handedOver');
      event = handedOver();
    }
    const last = await runWorker({ ...deps(), maxInvocations: 2 }, event);
    assert.equal(last.state, 'finished');
    if (last.state !== 'finished') return;
    assert.equal(last.result.status, 'failed');
    const target = last.result.targets[0]!;
    assert.equal(target.status, 'failed');
    if (target.status === 'failed') {
      assert.equal(target.error.code, 'TRANSPORT_TIMEOUT');
      assert.equal(target.error.details['reason'], 'WORKER_GAVE_UP');
    }
    assert.equal(receiver.requests.length, 1);
    writeFileSync(join(sandboxes['web-1'].root, 'release'), '');
  });
});
