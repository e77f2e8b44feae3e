// SPEC 5 v2 over one delivery ledger shared by every process (DynamoDB in the cloud): a server's
// operation and a fleet run that both reached their end under one operation id — which the API
// refuses, but two processes may still meet it — each POST their own result, once; and the
// in-process driver refuses a job that names another operation under an id it already runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import type { FleetJob, ServerJob } from '../../lib/fleet/job.ts';
import { createLocalRuns } from '../../lib/fleet/local-runs.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type DeliveryLedger,
} from '../../lib/fleet/run-store.ts';
import { deliverOnce } from '../../lib/fleet/steps/deliver.ts';
import { deliverOperation } from '../../lib/fleet/steps/operation.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

describe('one operation id, two kinds of run, one delivery ledger', () => {
  let receiver: CallbackReceiver;
  let sandboxes: Sandbox[];
  let fleet: Fleet;
  const options = { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5, backoffMaxMs: 10 };
  const deliver = (url: string, result: FleetResult) => deliverCallback(url, result, options);

  before(async () => {
    receiver = await startCallbackReceiver([]);
    sandboxes = [createSandbox(), createSandbox()];
    fleet = createStaticFleet(
      sandboxes.map((sandbox, i) => ({
        groups: ['edge'],
        target: sandbox.host(createLocalTransport({ target: `web-${i + 1}` }), `web-${i + 1}`),
      })),
    );
  });
  after(async () => {
    await fleet.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
    await receiver.close();
  });

  const request = { command: 'product.upgrade', product: 'deepfiler', version: '5.0.0' } as const;
  const serverJob = (operationId: string, server = 'web-1'): ServerJob => ({
    kind: 'server',
    operationId,
    server,
    request: { ...request },
    callbackUrl: `${receiver.url}/hooks/server`,
  });
  const fleetJob = (operationId: string): FleetJob => ({
    kind: 'fleet',
    operationId,
    select: 'web-1',
    product: request.product,
    version: request.version,
    canary: 0,
    healthGate: false,
    callbackUrl: `${receiver.url}/hooks/fleet`,
  });
  /** A driver of its own (another process), over the shared ledger. */
  const driver = (ledger: DeliveryLedger) =>
    createLocalRuns({ fleet, store: createMemoryRunStore(), ledger, deliver, pollMs: 20 });
  const paths = () => receiver.requests.map((r) => r.path);

  it('the server operation and the fleet run each POST once, whatever is delivered again', async () => {
    const id = 'op_ledger_1';
    const ledger = createMemoryDeliveryLedger();
    await runCommand(fleet.target('web-1'), { ...request, operationId: id });
    const servers = driver(ledger);
    await servers.dispatch(serverJob(id));
    await servers.idle();
    assert.deepEqual(paths(), ['/hooks/server']);

    const fleets = driver(ledger);
    await fleets.dispatch(fleetJob(id));
    await fleets.idle();
    assert.deepEqual(paths(), ['/hooks/server', '/hooks/fleet'], 'the fleet run POSTed its own result');
    const fleetResult = JSON.parse(receiver.requests[1]!.body);
    assert.equal(fleetResult.operationId, id);
    assert.equal(fleetResult.summary.total, 1);

    // Each delivered again (a step re-run, a redelivered event, another process): no second POST.
    const run = {
      operationId: id,
      server: 'web-1',
      request: { ...request },
      startedAt: new Date().toISOString(),
    };
    const again = await deliverOperation(
      { fleet, ledger, deliver, store: createMemoryRunStore() },
      { ...run, callbackUrl: `${receiver.url}/hooks/server` },
    );
    assert.deepEqual(again.callback, { delivered: true, attempts: 1 });
    const rerun = driver(ledger);
    await rerun.dispatch(fleetJob(id));
    await rerun.idle();
    const outcome = await deliverOnce(
      { ledger, deliver, store: createMemoryRunStore() },
      `${receiver.url}/hooks/fleet`,
      fleetResult,
      'https://runs.s3.amazonaws.com/op_ledger_1/result.json?X-Amz-Signature=abc',
    );
    assert.deepEqual(outcome, { delivered: true, attempts: 1 });
    assert.deepEqual(paths(), ['/hooks/server', '/hooks/fleet']);
  });

  it('the driver refuses another operation under an id it runs, and starts nothing for a repeat', async () => {
    const id = 'op_ledger_2';
    const ledger = createMemoryDeliveryLedger();
    const before = receiver.requests.length;
    await runCommand(fleet.target('web-1'), { ...request, operationId: id });
    const runs = driver(ledger);
    await runs.dispatch(serverJob(id));
    for (const other of [
      fleetJob(id),
      serverJob(id, 'web-2'),
      { ...serverJob(id), request: { ...request, version: '5.0.1' } },
      { ...serverJob(id), request: { command: 'server.provision', role: 'edge' } },
    ]) {
      await assert.rejects(
        runs.dispatch(other),
        (error: { code?: string; details?: { operationId?: string } }) => {
          assert.equal(error.code, 'INVALID_REQUEST');
          assert.equal(error.details?.operationId, id);
          return true;
        },
      );
    }
    // The same job again: nothing new starts.
    await runs.dispatch({ ...serverJob(id), callbackUrl: `${receiver.url}/hooks/server` });
    assert.equal(runs.running(), 1);
    await runs.idle();
    assert.equal(receiver.requests.length, before + 1);
  });
});
