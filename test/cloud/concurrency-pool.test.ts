/**
 * The concurrency every fleet run shares (SPEC 7.3 v2: "fleet runs never ask for more concurrent
 * work than the functions' reserved concurrency allows"): the grant rule itself, then the pool on
 * dynalite through the real SDK — racing holders in separate clients never hold more than the
 * pool together, a lease that ended frees its units, a release is idempotent, and a stored pool
 * that is not what the code wrote is refused rather than read as empty.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { createDynamoConcurrencyPool } from '../../lib/cloud/dynamo-concurrency-pool.ts';
import { grantUnits, type PoolHolding } from '../../lib/fleet/concurrency-pool.ts';
import { usePeers } from './peers.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const LATER = NOW + 3_600_000;
const held = (units: number, until = LATER): PoolHolding => ({ units, until });

describe('the grant rule', () => {
  it('grants a lone holder what it asks for, up to the pool', () => {
    assert.equal(grantUnits({}, 'a', 8, 10, NOW), 8);
    assert.equal(grantUnits({}, 'a', 40, 10, NOW), 10);
  });

  it('grants what is free when that is at least a fair share, else nothing', () => {
    // 10 units, b holds 4: a's fair share of two holders is 5, and 6 are free.
    assert.equal(grantUnits({ b: held(4) }, 'a', 8, 10, NOW), 6);
    // b holds 9: 1 is free, below a's share of 5: a waits rather than start a Map of one child.
    assert.equal(grantUnits({ b: held(9) }, 'a', 8, 10, NOW), 0);
    // ...unless 1 is all it asks for (a canary stage).
    assert.equal(grantUnits({ b: held(9) }, 'a', 1, 10, NOW), 1);
    assert.equal(grantUnits({ b: held(10) }, 'a', 1, 10, NOW), 0);
  });

  it("counts neither the holder's own holding nor a lease that has ended", () => {
    assert.equal(grantUnits({ a: held(1), b: held(3) }, 'a', 8, 10, NOW), 7);
    assert.equal(grantUnits({ b: held(10, NOW) }, 'a', 8, 10, NOW), 8, 'b’s lease ended at NOW');
  });

  it('shares a full pool among many holders: each gets at least one unit, never more than all', () => {
    const holdings: Record<string, PoolHolding> = {};
    for (let i = 0; i < 9; i += 1) holdings[`h${i}`] = held(1);
    // 9 of 10 held: the tenth holder's share is 1, and 1 is free.
    assert.equal(grantUnits(holdings, 'new', 5, 10, NOW), 1);
    holdings['h9'] = held(1);
    assert.equal(grantUnits(holdings, 'new', 5, 10, NOW), 0);
  });

  it('refuses a request for no unit', () => {
    assert.throws(() => grantUnits({}, 'a', 0, 10, NOW), RangeError);
  });
});

describe('the pool on DynamoDB', () => {
  const peers = usePeers();

  /** The worker's pool on `tableName`, in a client of its own, on the given clock. */
  const poolIn = (tableName: string, now: () => number = () => NOW) =>
    createDynamoConcurrencyPool({ client: peers.dynamo.client(), tableName, name: 'worker', now });

  const poolItem = async (tableName: string, name: string) => {
    const answer = await peers.dynamo.client().send(
      new GetItemCommand({
        TableName: tableName,
        Key: marshall({ id: `pool#${name}` }),
        ConsistentRead: true,
      }),
    );
    return answer.Item === undefined ? undefined : unmarshall(answer.Item);
  };

  it('racing holders, each with its own client, never hold more than the pool together', async () => {
    const tableName = await peers.dynamo.createTable();
    const capacity = 10;
    const holders = Array.from({ length: 12 }, (_, i) => `op_race${i}`);
    // Each holder in its own "invocation": its own client and pool object, all started at once.
    const grants = await Promise.all(
      holders.map((holder) =>
        createDynamoConcurrencyPool({
          client: peers.dynamo.client(),
          tableName,
          name: 'worker',
          now: () => NOW,
          attempts: 50,
        }).reserve(holder, 3, capacity, LATER),
      ),
    );
    const item = await poolItem(tableName, 'worker');
    const stored = item?.['holdings'] as Record<string, PoolHolding>;
    const total = Object.values(stored).reduce((sum, h) => sum + h.units, 0);
    assert.ok(total <= capacity, `held ${total} of ${capacity}`);
    assert.equal(
      grants.reduce((sum, g) => sum + g, 0),
      total,
      'what the holders were told is what the pool holds',
    );
    for (const [index, holder] of holders.entries()) {
      assert.equal(stored[holder]?.units ?? 0, grants[index], holder);
    }
    assert.ok(
      grants.some((g) => g === 0),
      'the pool ran out: some holder waits',
    );
  });

  it('asked again, answers the same; released, the units are free for the next holder', async () => {
    const tableName = await peers.dynamo.createTable();
    const pool = poolIn(tableName);
    assert.equal(await pool.reserve('op_a', 8, 10, LATER), 8);
    assert.equal(await pool.reserve('op_a', 8, 10, LATER), 8, 'a repeated step answers the same');
    assert.equal(await pool.reserve('op_b', 8, 10, LATER), 0, '2 free, below a fair share of 5');
    await pool.release('op_a');
    await pool.release('op_a');
    assert.equal(await pool.reserve('op_b', 8, 10, LATER), 8);
    const item = await poolItem(tableName, 'worker');
    assert.deepEqual(item?.['holdings'], { op_b: { units: 8, until: LATER } });
    assert.equal(item?.['expiresAt'], undefined, 'the pool item itself never expires');
  });

  it('frees the units of a holder whose lease ended, and drops it from the item', async () => {
    const tableName = await peers.dynamo.createTable();
    let now = NOW;
    const pool = poolIn(tableName, () => now);
    assert.equal(await pool.reserve('op_dead', 10, 10, NOW + 1000), 10);
    assert.equal(await pool.reserve('op_next', 4, 10, LATER), 0);
    now = NOW + 1000;
    assert.equal(await pool.reserve('op_next', 4, 10, LATER), 4);
    assert.deepEqual(Object.keys((await poolItem(tableName, 'worker'))?.['holdings'] ?? {}), ['op_next']);
  });

  it("keeps each holder's execution ARN through the others' writes", async () => {
    const tableName = await peers.dynamo.createTable();
    const pool = poolIn(tableName);
    const arn = 'arn:aws:states:us-east-1:123456789012:execution:FleetRun:op_a';
    await pool.reserve('op_a', 4, 10, LATER, arn);
    await pool.reserve('op_b', 4, 10, LATER);
    await pool.release('op_b');
    assert.deepEqual(await pool.holdings(), { op_a: { units: 4, until: LATER, execution: arn } });
  });

  it('a release with a tail shortens the lease to it, never lengthens it, and frees at once when it has passed', async () => {
    const tableName = await peers.dynamo.createTable();
    let now = NOW;
    const pool = poolIn(tableName, () => now);
    await pool.reserve('op_a', 4, 10, LATER);
    await pool.reserve('op_b', 4, 10, NOW + 60_000);
    await pool.release('op_a', { tailMs: 900_000 });
    await pool.release('op_b', { tailMs: 900_000 });
    const held = await pool.holdings();
    assert.equal(held['op_a']?.until, NOW + 900_000, 'shortened from LATER');
    assert.equal(held['op_b']?.until, NOW + 60_000, 'its own lease ended sooner: kept');
    await pool.release('op_a', { tailMs: 900_000, endedAt: NOW - 900_000 });
    assert.deepEqual(Object.keys(await pool.holdings()), ['op_b'], 'ended 15 minutes ago: free now');
    now = NOW + 60_000;
    assert.deepEqual(await pool.holdings(), {});
  });

  it('keeps pools apart by name', async () => {
    const tableName = await peers.dynamo.createTable();
    const make = (name: string) =>
      createDynamoConcurrencyPool({ client: peers.dynamo.client(), tableName, name, now: () => NOW });
    assert.equal(await make('worker').reserve('op_x', 5, 5, LATER), 5);
    assert.equal(await make('heartbeat').reserve('op_x', 5, 5, LATER), 5);
  });

  it('refuses a stored pool it did not write, rather than reading it as empty', async () => {
    const tableName = await peers.dynamo.createTable();
    await peers.dynamo.client().send(
      new PutItemCommand({
        TableName: tableName,
        Item: marshall({ id: 'pool#worker', version: 3, holdings: { op_a: { units: -2, until: LATER } } }),
      }),
    );
    const pool = poolIn(tableName);
    await assert.rejects(pool.reserve('op_b', 1, 10, LATER), /units/);
    await assert.rejects(pool.release('op_a'), /units/);
  });
});
