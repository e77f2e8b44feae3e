// The Operation state machine's steps (SPEC 7.3 v2: a long operation followed to its end, then
// delivered), as functions/worker.ts runs them: with no `callbackUrl` in the run, the result goes
// to the host's `[server] callback_url` (SPEC 2.1 "used when a request names none"), once; a
// run's own `callbackUrl` wins; a host that names none gets no callback.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore, type StepDeps } from '../../lib/fleet/steps/deps.ts';
import { runWorkerStep } from '../../lib/fleet/steps/worker-steps.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { type CallbackUrlHosts, startCallbackUrlHosts } from './callback-url-hosts.ts';

describe('operation state machine steps: the host’s callback_url', () => {
  let hosts: CallbackUrlHosts;
  let deps: StepDeps;

  before(async () => {
    hosts = await startCallbackUrlHosts();
    deps = {
      fleet: hosts.fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      blobs: createMemoryBlobStore(),
      deliver: hosts.deliver,
    };
  });
  after(() => hosts?.close());

  const request = { command: 'product.upgrade', product: 'haproxy', version: '6.7' } as const;
  /** Started on the host (as the API does before its 202), then polled and delivered as the machine does. */
  async function follow(server: string, operationId: string, callbackUrl?: string) {
    await runCommand(hosts.fleet.target(server), { ...request, operationId });
    const run = {
      operationId,
      server,
      request: { ...request },
      startedAt: new Date().toISOString(),
      ...(callbackUrl === undefined ? {} : { callbackUrl }),
    };
    const poll = (await runWorkerStep(deps, { step: 'operation-poll', run })) as { done: boolean };
    assert.equal(poll.done, true);
    return runWorkerStep(deps, { step: 'operation-deliver', run: { ...run, poll: { polls: 1 } } });
  }

  it('delivers to callback_url when the run names none, once however often the step runs', async () => {
    const first = await follow('cfg-1', 'op_cfg_sm_1');
    assert.deepEqual(first, {
      operationId: 'op_cfg_sm_1',
      status: 'succeeded',
      callback: { delivered: true, attempts: 1 },
    });
    // The step run again (a retried Task): no second POST.
    await follow('cfg-1', 'op_cfg_sm_1');
    const got = hosts.receiver.requests.filter((r) => r.path === '/configured');
    assert.equal(got.length, 1);
    const body = JSON.parse(got[0]!.body);
    assert.equal(body.operationId, 'op_cfg_sm_1');
    assert.equal(body.targets[0].server, 'cfg-1');
    assert.equal(body.targets[0].result.status, 'succeeded');
  });

  it('the run’s own callbackUrl wins; a host naming none gets no callback', async () => {
    const before = hosts.receiver.requests.length;
    await follow('cfg-1', 'op_cfg_sm_2', `${hosts.receiver.url}/named`);
    const none = await follow('plain', 'op_cfg_sm_3');
    assert.deepEqual(none, { operationId: 'op_cfg_sm_3', status: 'succeeded', callback: null });
    assert.deepEqual(
      hosts.receiver.requests.slice(before).map((r) => r.path),
      ['/named'],
    );
  });
});
