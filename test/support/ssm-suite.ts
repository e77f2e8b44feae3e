/**
 * The loopback SSM as the transport tests use it: one server, the real client, one batcher; and
 * sandboxes read locally and over SSM side by side.
 */
import { after, before } from 'node:test';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { HostTarget } from '../../lib/operations/types.ts';
import { present } from '../../lib/optional.ts';
import { createSsmTransport, SsmBatcher } from '../../lib/transport/ssm/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { createSandbox, type Sandbox } from './sandbox.ts';
import { createTestSsmClient, type SsmTestServer, startSsmServer, testInstanceId } from './ssm-server.ts';

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

/** One side of a comparison: a sandbox and the host that reads it. */
export interface Side {
  sandbox: Sandbox;
  host: HostTarget;
}

/** How the two sides of `localAndSsm` differ from the plain sandbox read by `sh`. */
export interface SidesOptions {
  /** Changes each sandbox after it is made (its bootstrap.ini, its hooks). */
  configure?: (sandbox: Sandbox) => void;
  /** The SSM instance's environment (its PATH, for a host with other tools). */
  env?: Record<string, string>;
  /** The local side's transport (local `sh` by default). */
  local?: Transport;
}

/**
 * Two identical sandboxes: `local` read through the local transport, `remote` through the
 * loopback SSM as instance `testInstanceId(n)`; both are `web-1`. The caller cleans them up.
 */
export function localAndSsm(
  peers: SsmPeers,
  n: number,
  options: SidesOptions = {},
): { local: Side; remote: Side } {
  const [a, b] = [createSandbox(), createSandbox()];
  options.configure?.(a);
  options.configure?.(b);
  const instanceId = testInstanceId(n);
  peers.server.addInstance(instanceId, present({ env: options.env }));
  const transport = createSsmTransport({ client: peers.client, instanceId, batcher: peers.batcher });
  return {
    local: { sandbox: a, host: a.host(options.local, 'web-1') },
    remote: { sandbox: b, host: b.host(transport, 'web-1') },
  };
}
