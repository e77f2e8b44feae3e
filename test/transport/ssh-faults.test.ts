import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import { createSshTransport } from '../../lib/transport/ssh/index.ts';
import { type FakeSshServer, startFakeSshServer, startStalledServer } from '../support/fake-ssh-server.ts';
import { generateClientKey } from '../support/sshd.ts';

async function rejection(promise: Promise<unknown>): Promise<BootstrapError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BootstrapError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('ssh transport: faults a real sshd will not produce on demand', () => {
  let dir: string;
  let identity: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ssh-faults-'));
    identity = (await generateClientKey(dir)).identityFile;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** The transport to a fake server, trusting its host key by fingerprint. */
  const transportTo = (
    fake: FakeSshServer,
    keepalive: { keepaliveIntervalMs?: number; keepaliveCountMax?: number } = {},
  ) =>
    createSshTransport({
      host: fake.host,
      port: fake.port,
      identity,
      hostKey: fake.hostKeyFingerprint,
      ...keepalive,
    });

  it('a stalled handshake ends in TRANSPORT_TIMEOUT after the connect timeout', async () => {
    const stalled = await startStalledServer();
    const ssh = createSshTransport({
      host: stalled.host,
      port: stalled.port,
      identity,
      hostKey: `SHA256:${'A'.repeat(43)}`,
      connectTimeoutMs: 300,
    });
    try {
      const error = await rejection(ssh.exec({ program: 'true' }));
      assert.equal(error.code, 'TRANSPORT_TIMEOUT');
      assert.equal(error.details['port'], stalled.port);
      assert.equal(stalled.connections, 1);
    } finally {
      await ssh.close();
      await stalled.close();
    }
  });

  it('a connection dropped in the middle of the output rejects (UNREACHABLE), never a partial success', async () => {
    const fake = await startFakeSshServer({ behaviour: 'drop-mid-output', bytes: 100_000 });
    const ssh = transportTo(fake);
    try {
      for (let i = 0; i < 3; i += 1) {
        const error = await rejection(ssh.exec({ program: 'cat /big/file' }));
        assert.equal(error.code, 'UNREACHABLE');
        assert.match(error.message, /before the program finished/);
      }
      assert.equal(fake.execs, 3);
    } finally {
      await ssh.close();
      await fake.close();
    }
  });

  it('a peer that goes silent is detected by keepalives: TRANSPORT_TIMEOUT, not a hang', async () => {
    const fake = await startFakeSshServer({ behaviour: 'freeze' });
    const ssh = transportTo(fake, { keepaliveIntervalMs: 100, keepaliveCountMax: 2 });
    try {
      const error = await rejection(ssh.exec({ program: 'sleep 3600' }));
      assert.equal(error.code, 'TRANSPORT_TIMEOUT');
      assert.match(error.message, /keepalives/);
    } finally {
      await ssh.close();
      await fake.close();
    }
  });

  it('a server offering only weak algorithms is refused during the handshake, before authentication', async () => {
    const fake = await startFakeSshServer({ weakOnly: true });
    const knownHosts = join(dir, 'weak_known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${fake.port} ${fake.hostPublicKey}\n`);
    const ssh = createSshTransport({ host: fake.host, port: fake.port, identity, knownHosts });
    try {
      const error = await rejection(ssh.exec({ program: 'true' }));
      assert.equal(error.code, 'UNREACHABLE');
      assert.equal(error.details['reason'], 'handshake');
      assert.equal(fake.connections, 1);
      assert.equal(fake.authAttempts, 0);
    } finally {
      await ssh.close();
      await fake.close();
    }
  });

  it('the same fake server with modern algorithms is reached (the refusal above is about algorithms)', async () => {
    const fake = await startFakeSshServer();
    const ssh = transportTo(fake);
    try {
      assert.deepEqual(await ssh.exec({ program: 'echo fine' }), {
        stdout: 'fine\n',
        stderr: '',
        exitCode: 0,
      });
    } finally {
      await ssh.close();
      await fake.close();
    }
  });
});
