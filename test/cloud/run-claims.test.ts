/**
 * One contract for both backends of the operation-id claims (lib/cloud/run-claims.ts): memory,
 * and DynamoDB on dynalite through the real SDK, several containers' worth of clients racing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDynamoRunClaims } from '../../lib/cloud/dynamo-run-claims.ts';
import { createMemoryRunClaims, type RunClaims } from '../../lib/cloud/run-claims.ts';
import type { RunJob } from '../../lib/fleet/job.ts';
import { usePeers } from './peers.ts';

const peers = usePeers();

const backends: { name: string; claims(): Promise<() => RunClaims> }[] = [
  {
    name: 'memory',
    claims: async () => {
      const one = createMemoryRunClaims();
      return () => one;
    },
  },
  {
    name: 'DynamoDB (dynalite)',
    claims: async () => {
      const tableName = await peers.dynamo.createTable();
      // A new client per caller: the claims of separate containers meet only in the table.
      return () => createDynamoRunClaims({ client: peers.dynamo.client(), tableName });
    },
  },
];

const provision = (operationId: string, server: string, role = 'edge'): RunJob => ({
  kind: 'server',
  operationId,
  server,
  request: { command: 'server.provision', role },
});
const upgrade = (operationId: string, version: string, select = 'web'): RunJob => ({
  kind: 'fleet',
  operationId,
  select,
  product: 'haproxy',
  version,
});
const refused = (error: { code?: string; message?: string }) =>
  error.code === 'INVALID_REQUEST' && /already used by another request/.test(error.message ?? '');

for (const backend of backends) {
  describe(`run claims: ${backend.name}`, () => {
    it('the same run again is answered; another server, command, arguments or kind is refused', async () => {
      const claims = await backend.claims();
      await claims().claim(provision('c-1', 'web-01'));
      await claims().claim({ ...provision('c-1', 'web-01'), callbackUrl: 'https://hooks.example.com/x' });
      await assert.rejects(claims().claim(provision('c-1', 'web-02')), refused);
      await assert.rejects(claims().claim(provision('c-1', 'web-01', 'db')), refused);
      await assert.rejects(claims().claim(upgrade('c-1', '2.0')), refused);
      await claims().claim(upgrade('c-2', '2.0'));
      await claims().claim(upgrade('c-2', '2.0', 'other-selection'));
      await assert.rejects(claims().claim(upgrade('c-2', '3.0')), refused);
      await assert.rejects(claims().claim(provision('c-2', 'web-01')), (error: { details?: object }) => {
        assert.deepEqual((error.details as Record<string, unknown>)['existing'], {
          kind: 'fleet',
          command: 'product.upgrade',
          args: { product: 'haproxy', version: '2.0' },
        });
        return true;
      });
    });

    it('of racing claims for two servers, one wins', async () => {
      const claims = await backend.claims();
      const outcomes = await Promise.allSettled(
        ['web-01', 'web-02', 'web-03', 'web-04'].map((server) => claims().claim(provision('c-race', server))),
      );
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    });

    it('a give-back frees the id; a repeat’s give-back, or a stale one, frees nothing', async () => {
      const claims = await backend.claims();
      const giveBack = await claims().claim(provision('c-3', 'web-01'));
      const repeatGiveBack = await claims().claim(provision('c-3', 'web-01'));
      await repeatGiveBack();
      await assert.rejects(claims().claim(provision('c-3', 'web-02')), refused);
      await giveBack();
      await claims().claim(provision('c-3', 'web-02'));
      await giveBack();
      await assert.rejects(claims().claim(provision('c-3', 'web-01')), refused, 'the new claim stands');
    });
  });
}
