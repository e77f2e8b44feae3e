/**
 * One contract for every backend of the run store and the delivery ledger (lib/fleet/run-store.ts):
 * the memory backends, and the DynamoDB ones on dynalite through the real SDK. Deliveries are the
 * real `deliverCallback` POSTing to the real loopback peers.receiver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDynamoDeliveryLedger } from '../../lib/cloud/dynamo-delivery-ledger.ts';
import { createDynamoRunStore } from '../../lib/cloud/dynamo-run-store.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type DeliveryLedger,
  emptySummary,
  MAX_KEPT_TARGETS,
  type NewRunRecord,
  type RunStore,
} from '../../lib/fleet/run-store.ts';
import { usePeers } from './peers.ts';

interface Backend {
  name: string;
  store(): Promise<RunStore>;
  ledger(): Promise<DeliveryLedger>;
}

const peers = usePeers();

const backends: Backend[] = [
  {
    name: 'memory',
    store: async () => createMemoryRunStore(),
    ledger: async () => createMemoryDeliveryLedger(),
  },
  {
    name: 'DynamoDB (dynalite)',
    store: async () =>
      createDynamoRunStore({ client: peers.dynamo.client(), tableName: await peers.dynamo.createTable() }),
    ledger: async () =>
      createDynamoDeliveryLedger({
        client: peers.dynamo.client(),
        tableName: await peers.dynamo.createTable(),
        pollMs: 20,
      }),
  },
];

let runs = 0;
function newRun(extra: Partial<NewRunRecord> = {}): NewRunRecord {
  runs += 1;
  return {
    operationId: `op_contract_${runs}`,
    command: 'product.upgrade',
    args: { product: 'deepfiler', version: '3.2.1', select: 'group:web' },
    status: 'running',
    startedAt: '2026-01-02T03:04:05.000Z',
    execution: 'arn:aws:states:eu-west-1:123456789012:execution:fleet:op',
    ...extra,
  };
}

for (const backend of backends) {
  describe(`RunStore contract: ${backend.name}`, () => {
    it('creates once: a second create answers the kept record, unchanged', async () => {
      const store = await backend.store();
      const first = newRun();
      const made = await store.create(first);
      assert.equal(made.created, true);
      assert.deepEqual(made.record, { ...first, failures: 0 });
      const again = await store.create({ ...first, command: 'server.provision', status: 'failed' });
      assert.equal(again.created, false);
      assert.deepEqual(again.record, { ...first, failures: 0 });
      assert.deepEqual(await store.get(first.operationId), { ...first, failures: 0 });
    });

    it('racing creates under one id: exactly one is created, all answer the same record', async () => {
      const store = await backend.store();
      const run = newRun();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.create({ ...run, args: { attempt: i } })),
      );
      assert.equal(answers.filter((answer) => answer.created).length, 1);
      const kept = answers.find((answer) => answer.created)?.record;
      for (const answer of answers) assert.deepEqual(answer.record, kept);
    });

    it('200 concurrent addFailure answer exactly 1..200', async () => {
      const store = await backend.store();
      const run = newRun();
      await store.create(run);
      const counts = await Promise.all(Array.from({ length: 200 }, () => store.addFailure(run.operationId)));
      assert.deepEqual(
        [...counts].sort((a, b) => a - b),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal((await store.get(run.operationId))?.failures, 200);
    });

    it('update then get round-trips every field it sets, and keeps the others', async () => {
      const store = await backend.store();
      const run = newRun();
      await store.create(run);
      await store.addFailure(run.operationId);
      const patch = {
        status: 'partial' as const,
        finishedAt: '2026-01-02T03:09:00.000Z',
        summary: { total: 3, succeeded: 1, failed: 1, unreachable: 0, skipped: 1 },
        resultLocation: 's3://runs-bucket/runs/op/result.json',
        callback: { delivered: false, attempts: 5, lastError: 'HTTP 503' },
      };
      await store.update(run.operationId, patch);
      assert.deepEqual(await store.get(run.operationId), { ...run, ...patch, failures: 1 });
      await store.update(run.operationId, { callback: { delivered: true, attempts: 1 } });
      assert.deepEqual((await store.get(run.operationId))?.callback, { delivered: true, attempts: 1 });
      // A run waiting for units of its function's concurrency, then granted them.
      const waiting = { for: 'concurrency' as const, since: '2026-01-02T03:05:00.000Z', holders: ['op_a'] };
      await store.update(run.operationId, { waiting });
      assert.deepEqual((await store.get(run.operationId))?.waiting, waiting);
      await store.update(run.operationId, { waiting: null });
      assert.equal((await store.get(run.operationId))?.waiting, null);
    });

    it('recordTarget: the summary so far counts every outcome, the targets so far keep those that did not succeed', async () => {
      const store = await backend.store();
      const run = newRun();
      await store.create(run);
      // Before the plan sets a summary there is nothing to count into.
      await store.recordTarget(run.operationId, { server: 'early', status: 'skipped' });
      assert.equal((await store.get(run.operationId))?.summary, undefined);
      await store.update(run.operationId, { summary: emptySummary(40) });
      const failed = { code: 'HOOK_FAILED' as const, message: 'upgrade exited 3', details: { exitCode: 3 } };
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          store.recordTarget(run.operationId, { server: `ok-${i}`, status: 'succeeded', result: { i } }),
        ),
        store.recordTarget(run.operationId, { server: 'bad', status: 'failed', error: failed }),
        store.recordTarget(run.operationId, { server: 'gone', status: 'unreachable', error: failed }),
        store.recordTarget(run.operationId, { server: 'later', status: 'skipped' }),
      ]);
      const record = await store.get(run.operationId);
      assert.deepEqual(record?.summary, { total: 40, succeeded: 20, failed: 1, unreachable: 1, skipped: 1 });
      const notSucceeded = (record?.targets ?? []).filter((target) => target.status !== 'succeeded');
      assert.deepEqual(notSucceeded.map((target) => target.server).sort(), ['bad', 'early', 'gone', 'later']);
      assert.deepEqual(JSON.parse(JSON.stringify(notSucceeded.find((target) => target.server === 'bad'))), {
        server: 'bad',
        status: 'failed',
        error: failed,
      });
    });

    it(`recordTarget keeps at most ${MAX_KEPT_TARGETS} failed targets where the backend is bounded, and counts them all`, async () => {
      const store = await backend.store();
      const run = newRun();
      await store.create(run);
      await store.update(run.operationId, { summary: emptySummary(MAX_KEPT_TARGETS + 20) });
      const error = { code: 'HOOK_FAILED' as const, message: 'no', details: {} };
      for (let i = 0; i < MAX_KEPT_TARGETS + 20; i += 1) {
        await store.recordTarget(run.operationId, { server: `h-${i}`, status: 'failed', error });
      }
      const record = await store.get(run.operationId);
      assert.equal(record?.summary?.failed, MAX_KEPT_TARGETS + 20);
      const kept = record?.targets?.length ?? 0;
      assert.ok(kept >= MAX_KEPT_TARGETS, `kept ${kept}`);
      if (backend.name !== 'memory') assert.equal(kept, MAX_KEPT_TARGETS);
      await store.recordTarget('op_never', { server: 'x', status: 'skipped' });
      assert.equal(await store.get('op_never'), undefined);
    });

    it('an unknown run: get answers undefined, addFailure and update refuse and create nothing', async () => {
      const store = await backend.store();
      assert.equal(await store.get('op_never'), undefined);
      await assert.rejects(store.addFailure('op_never'), /no run op_never/);
      await assert.rejects(store.update('op_never', { status: 'failed' }), /no run op_never/);
      assert.equal(await store.get('op_never'), undefined);
    });
  });

  describe(`DeliveryLedger contract: ${backend.name}`, () => {
    it('30 concurrent deliveries under one key POST once, and all answer delivered', async () => {
      const ledger = await backend.ledger();
      const id = `op_once_${backend.name}`;
      const outcomes = await Promise.all(
        Array.from({ length: 30 }, () => ledger.deliverOnce(id, peers.post(id))),
      );
      assert.equal(peers.postsFor(id), 1);
      for (const outcome of outcomes) assert.equal(outcome.delivered, true);
    });

    it('after a 2xx, a later call answers the delivered outcome and POSTs nothing', async () => {
      const ledger = await backend.ledger();
      const id = `op_later_${backend.name}`;
      const first = await ledger.deliverOnce(id, peers.post(id));
      assert.equal(first.delivered, true);
      const second = await ledger.deliverOnce(id, peers.post(id));
      assert.equal(peers.postsFor(id), 1);
      assert.deepEqual(
        { delivered: second.delivered, attempts: second.attempts },
        { delivered: true, attempts: 1 },
      );
    });

    it('a 500 is not remembered: the retry POSTs again and is then remembered', async () => {
      const ledger = await backend.ledger();
      const id = `op_retry_${backend.name}`;
      peers.receiver.setScript([500]);
      const failed = await ledger.deliverOnce(id, peers.post(id));
      assert.deepEqual(failed, { delivered: false, attempts: 1, lastError: 'HTTP 500', status: 500 });
      const retried = await ledger.deliverOnce(id, peers.post(id));
      assert.equal(retried.delivered, true);
      await ledger.deliverOnce(id, peers.post(id));
      assert.equal(peers.postsFor(id), 2);
    });

    it('calls made while a delivery is failing: one POST, none delivered, a later call tries again', async () => {
      const ledger = await backend.ledger();
      const id = `op_failing_${backend.name}`;
      peers.receiver.setScript([503]);
      // The first sender is held until the others have had ample time to find it in progress.
      let release = (): void => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let sending = (): void => {};
      const started = new Promise<void>((resolve) => {
        sending = resolve;
      });
      const first = ledger.deliverOnce(id, async () => {
        sending();
        await gate;
        return peers.post(id)();
      });
      await started;
      const others = Array.from({ length: 9 }, () => ledger.deliverOnce(id, peers.post(id)));
      setTimeout(release, 1_000);
      const outcomes = await Promise.all([first, ...others]);
      assert.equal(peers.postsFor(id), 1);
      for (const outcome of outcomes) assert.equal(outcome.delivered, false);
      assert.equal((await ledger.deliverOnce(id, peers.post(id))).delivered, true);
      assert.equal(peers.postsFor(id), 2);
    });

    it('keys are independent', async () => {
      const ledger = await backend.ledger();
      const ids = [1, 2, 3].map((n) => `op_key_${n}_${backend.name}`);
      await Promise.all(ids.map((id) => ledger.deliverOnce(id, peers.post(id))));
      for (const id of ids) assert.equal(peers.postsFor(id), 1);
    });
  });
}
