/**
 * What only the DynamoDB backends promise, on dynalite through the real SDK: the items as stored
 * (prefixed keys, the `expiresAt` TTL, no targets), and deliveries shared between invocations that
 * each have their own client — including a sender that dies mid-delivery.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { createDynamoDeliveryLedger } from '../../lib/cloud/dynamo-delivery-ledger.ts';
import { createDynamoRunStore } from '../../lib/cloud/dynamo-run-store.ts';
import type { CallbackOutcome } from '../../lib/fleet/aggregate.ts';
import { usePeers } from './peers.ts';

const peers = usePeers();

async function scan(tableName: string): Promise<Record<string, unknown>[]> {
  const answer = await peers.dynamo
    .client()
    .send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
  return (answer.Items ?? []).map((item) => unmarshall(item));
}

describe('DynamoDB run store: the stored item', () => {
  it('is keyed run#<operationId>, carries expiresAt (epoch seconds, ttlDays on), and no targets', async () => {
    const tableName = await peers.dynamo.createTable();
    const clock = Date.parse('2026-03-01T00:00:00Z');
    const store = createDynamoRunStore({
      client: peers.dynamo.client(),
      tableName,
      ttlDays: 30,
      now: () => clock,
    });
    const targets = Array.from({ length: 3 }, (_, i) => ({ server: `web-${i}`, status: 'skipped' as const }));
    await store.create({
      operationId: 'op_ttl',
      command: 'product.upgrade',
      args: {},
      status: 'running',
      startedAt: '2026-03-01T00:00:00.000Z',
      targets,
    });
    await store.update('op_ttl', { targets, status: 'failed' });
    const raw = await peers.dynamo
      .client()
      .send(
        new GetItemCommand({ TableName: tableName, Key: { id: { S: 'run#op_ttl' } }, ConsistentRead: true }),
      );
    assert.deepEqual(raw.Item?.['expiresAt'], { N: String(clock / 1000 + 30 * 86_400) });
    assert.equal(raw.Item?.['targets'], undefined);
    const record = await store.get('op_ttl');
    assert.equal(record?.status, 'failed');
    assert.equal(record?.targets, undefined);
    assert.equal('expiresAt' in (record ?? {}), false);
  });
});

describe('DynamoDB delivery ledger', () => {
  it('a delivered record: Powertools item under delivery#…, COMPLETED, expiresAt as its TTL, beside run items', async () => {
    const tableName = await peers.dynamo.createTable();
    const client = peers.dynamo.client();
    const store = createDynamoRunStore({ client, tableName });
    await store.create({
      operationId: 'op_shared',
      command: 'c',
      args: {},
      status: 'running',
      startedAt: 'now',
    });
    const before = Math.floor(Date.now() / 1000);
    const ledger = createDynamoDeliveryLedger({ client, tableName, rememberDays: 2 });
    assert.equal((await ledger.deliverOnce('op_shared', peers.post('op_shared'))).delivered, true);
    const items = await scan(tableName);
    const delivery = items.find((item) => String(item['id']).startsWith('delivery#'));
    assert.ok(delivery, JSON.stringify(items));
    assert.equal(delivery['status'], 'COMPLETED');
    assert.equal(typeof delivery['expiresAt'], 'number');
    assert.ok((delivery['expiresAt'] as number) >= before + 2 * 86_400 - 5);
    assert.equal(delivery['expiration'], undefined);
    assert.deepEqual((delivery['data'] as CallbackOutcome).delivered, true);
    assert.equal((await store.get('op_shared'))?.status, 'running');
    assert.equal(items.length, 2);
  });

  it('two invocations (two ledgers, two clients) on one table, racing: one POST', async () => {
    const tableName = await peers.dynamo.createTable();
    const ledgers = [0, 1].map(() =>
      createDynamoDeliveryLedger({ client: peers.dynamo.client(), tableName, pollMs: 20 }),
    );
    const id = 'op_two_invocations';
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ledgers[i % 2]!.deliverOnce(id, peers.post(id))),
    );
    assert.equal(peers.postsFor(id), 1);
    for (const outcome of outcomes) assert.equal(outcome.delivered, true);
    assert.equal((await ledgers[1]!.deliverOnce(id, peers.post(id))).delivered, true);
    assert.equal(peers.postsFor(id), 1);
  });

  it('a sender that died mid-delivery blocks only for its lease: then the waiting caller sends', async () => {
    const tableName = await peers.dynamo.createTable();
    const id = 'op_dead_sender';
    const dying = createDynamoDeliveryLedger({
      client: peers.dynamo.client(),
      tableName,
      inProgressLeaseMs: 300,
    });
    let claimed = (): void => {};
    const sending = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    // This send never ends: the invocation that holds the claim is gone.
    void dying.deliverOnce(id, () => {
      claimed();
      return new Promise<CallbackOutcome>(() => {});
    });
    await sending;
    const waiter = createDynamoDeliveryLedger({ client: peers.dynamo.client(), tableName, pollMs: 20 });
    const outcome = await waiter.deliverOnce(id, peers.post(id));
    assert.equal(outcome.delivered, true);
    assert.equal(peers.postsFor(id), 1);
  });

  it('a caller that waits longer than waitMs answers not delivered, in progress elsewhere, and sends nothing', async () => {
    const tableName = await peers.dynamo.createTable();
    const id = 'op_slow_sender';
    const slow = createDynamoDeliveryLedger({ client: peers.dynamo.client(), tableName });
    let finish = (_outcome: CallbackOutcome): void => {};
    let claimed = (): void => {};
    const sending = new Promise<void>((resolve) => {
      claimed = resolve;
    });
    const first = slow.deliverOnce(id, () => {
      claimed();
      return new Promise<CallbackOutcome>((resolve) => {
        finish = resolve;
      });
    });
    await sending;
    const impatient = createDynamoDeliveryLedger({
      client: peers.dynamo.client(),
      tableName,
      waitMs: 100,
      pollMs: 20,
    });
    assert.deepEqual(await impatient.deliverOnce(id, peers.post(id)), {
      delivered: false,
      attempts: 0,
      lastError: 'delivery in progress elsewhere',
    });
    assert.equal(peers.postsFor(id), 0);
    finish({ delivered: true, attempts: 1 });
    assert.deepEqual(await first, { delivered: true, attempts: 1 });
    assert.deepEqual(await impatient.deliverOnce(id, peers.post(id)), { delivered: true, attempts: 1 });
    assert.equal(peers.postsFor(id), 0);
  });

  it('refuses to start when Powertools idempotency is disabled by the environment', () => {
    process.env['POWERTOOLS_IDEMPOTENCY_DISABLED'] = 'true';
    try {
      assert.throws(
        () => createDynamoDeliveryLedger({ client: peers.dynamo.client(), tableName: 'any' }),
        /POWERTOOLS_IDEMPOTENCY_DISABLED/,
      );
    } finally {
      delete process.env['POWERTOOLS_IDEMPOTENCY_DISABLED'];
    }
  });
});
