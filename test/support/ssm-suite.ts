/** The loopback SSM as the transport tests use it: one server, the real client, one batcher. */
import { after, before } from 'node:test';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SsmBatcher } from '../../lib/transport/ssm/index.ts';
import { createTestSsmClient, type SsmTestServer, startSsmServer } from './ssm-server.ts';

/** Short batch windows and polls, so that one command takes milliseconds. */
export const FAST_POLL = { windowMs: 10, poll: { initialMs: 10, maxMs: 80 } };

export interface SsmPeers {
  server: SsmTestServer;
  client: SSMClient;
  batcher: SsmBatcher;
}

/** For the suite it is called in: the peers, handed to `use` before its tests and closed after them. */
export function useSsmPeers(use: (peers: SsmPeers) => void): void {
  let peers: SsmPeers | undefined;
  before(async () => {
    const server = await startSsmServer();
    const client = createTestSsmClient(server);
    peers = { server, client, batcher: new SsmBatcher(client, FAST_POLL) };
    use(peers);
  });
  after(async () => {
    peers?.client.destroy();
    await peers?.server.close();
  });
}
