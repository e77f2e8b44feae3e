/**
 * The peers of the cloud-state tests, started once per test file: dynalite as DynamoDB and the
 * loopback callback receiver, with the real SPEC 5 delivery to it and a count of its POSTs.
 */
import { after, before } from 'node:test';
import { deliverCallback } from '../../lib/callback/index.ts';
import type { CallbackOutcome } from '../../lib/fleet/aggregate.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { type DynaliteServer, startDynalite } from '../support/dynalite.ts';

export interface CloudPeers {
  dynamo: DynaliteServer;
  receiver: CallbackReceiver;
  /** `deliverCallback` of `{ operationId }` to the receiver, one attempt, so each POST is counted. */
  post(operationId: string): () => Promise<CallbackOutcome>;
  /** POSTs the receiver got for this operation (its `Idempotency-Key`). */
  postsFor(operationId: string): number;
}

/** Registers the peers' start and stop with the file's `before`/`after`; read them in tests only. */
export function usePeers(): CloudPeers {
  const peers = {} as CloudPeers;
  before(async () => {
    peers.dynamo = await startDynalite();
    peers.receiver = await startCallbackReceiver();
  });
  after(async () => {
    await peers.receiver.close();
    await peers.dynamo.close();
  });
  peers.post = (operationId) => () =>
    deliverCallback(
      `${peers.receiver.url}/hook`,
      { operationId },
      { userAgentVersion: '0.1.0', maxAttempts: 1, timeoutMs: 10_000 },
    );
  peers.postsFor = (operationId) =>
    peers.receiver.requests.filter((request) => request.headers['idempotency-key'] === operationId).length;
  return peers;
}
