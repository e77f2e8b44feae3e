import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SSMClient } from '@aws-sdk/client-ssm';
import { regionalClients } from '../../lib/cloud/regional-clients.ts';

describe('regionalClients', () => {
  it('makes one client per region on first use and keeps it; null is the SDK chain’s own region', async () => {
    const made: (string | null)[] = [];
    const clients = regionalClients((region) => {
      made.push(region);
      return new SSMClient(region === null ? { region: 'eu-west-1' } : { region });
    });
    const first = clients.clientFor('us-east-1');
    assert.equal(clients.clientFor('us-east-1'), first);
    assert.notEqual(clients.clientFor('eu-central-1'), first);
    assert.equal(clients.clientFor(null), clients.clientFor(null));
    assert.deepEqual(made, ['us-east-1', 'eu-central-1', null]);
    assert.equal(await clients.clientFor('eu-central-1').config.region(), 'eu-central-1');
    assert.equal(clients.made().length, 3);
    for (const client of clients.made()) client.destroy();
  });
});
