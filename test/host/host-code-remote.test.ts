// The host code cache over a real sshd (as the SSH test user) and over SSM (the loopback SSM
// server runs each command with a real shell): installed on first use, small programs after, and
// each kind of damage falls back, runs once and is repaired, as over the local transport.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { SshPool } from '../../lib/transport/ssh/index.ts';
import { createSsmTransport, SsmBatcher } from '../../lib/transport/ssm/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { type Damage, provesFallback, provesFirstUse, recording } from '../support/host-code.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';
import {
  createTestSsmClient,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
} from '../support/ssm-server.ts';

const DAMAGES: Damage[] = ['missing', 'corrupt', 'foreign file', 'group-writable', 'other-writable lib/'];

describe('host code cached on the host, over SSH', () => {
  let sshd: SshdHost;
  let owner: { uid: number; gid: number };
  const pool = new SshPool();
  const sandboxes: Sandbox[] = [];
  const fresh = () => {
    const sandbox = createSandbox({ owner });
    sandboxes.push(sandbox);
    return sandbox;
  };
  // Exec only by default: a connection's host session (tested in test/transport) holds the code in
  // memory and never consults the cache, so these prove the cache on the path first programs take.
  const connect = (hostSessions = false): Transport => sshTransportTo(sshd, { pool, hostSessions });

  before(async () => {
    const user = await ensureTestUser();
    sshd = await startSshd();
    const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }));
    owner = { uid: id('-u'), gid: id('-g') };
  });
  after(async () => {
    await pool.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
    await sshd.stop();
  });

  it('installed on first use, then each program sends only its own lines', async () => {
    await provesFirstUse(fresh(), recording(connect()), owner.uid);
  });

  it("likewise with the host session that runs a connection's further programs", async () => {
    const transport = connect(true);
    await provesFirstUse(fresh(), recording(transport), owner.uid);
    assert.ok(pool.stats().sessionsStarted >= 1, 'the further programs ran in a host session');
  });

  for (const kind of DAMAGES) {
    it(`a ${kind} cache falls back, loses nothing, runs nothing twice, and is repaired`, async () => {
      await provesFallback(fresh(), connect, kind, owner.uid);
    });
  }
});

describe('host code cached on the host, over SSM', () => {
  let server: SsmTestServer;
  let client: SSMClient;
  let batcher: SsmBatcher;
  const sandboxes: Sandbox[] = [];
  const fresh = () => {
    const sandbox = createSandbox();
    sandboxes.push(sandbox);
    return sandbox;
  };
  const instanceId = testInstanceId(7);
  const connect = (): Transport => createSsmTransport({ client, instanceId, batcher });

  before(async () => {
    server = await startSsmServer();
    client = createTestSsmClient(server);
    batcher = new SsmBatcher(client, { windowMs: 5, poll: { initialMs: 10, maxMs: 60 } });
    server.addInstance(instanceId);
  });
  after(async () => {
    client.destroy();
    await server.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
  });

  it('installed on first use, then each program sends only its own lines', async () => {
    await provesFirstUse(fresh(), recording(connect()), process.getuid?.() ?? 0);
  });

  for (const kind of DAMAGES) {
    it(`a ${kind} cache falls back, loses nothing, runs nothing twice, and is repaired`, async () => {
      await provesFallback(fresh(), connect, kind, process.getuid?.() ?? 0);
    });
  }
});
