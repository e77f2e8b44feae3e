import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BootstrapError } from '../../lib/errors.ts';
import type { SshTransportOptions } from '../../lib/transport/ssh/index.ts';
import { createSshTransport } from '../../lib/transport/ssh/index.ts';
import type { FakeSshServer } from '../support/fake-ssh-server.ts';
import { startFakeSshServer } from '../support/fake-ssh-server.ts';
import type { SshdHost } from '../support/sshd.ts';
import { generateClientKey, startSshd } from '../support/sshd.ts';

const run = promisify(execFile);

/** Runs `id -un` over SSH with the given trust; resolves with the output or rejects. */
async function login(
  host: { host: string; port: number },
  extra: Partial<SshTransportOptions>,
  identity: string,
) {
  const ssh = createSshTransport({
    host: host.host,
    port: host.port,
    user: 'bootstrap-test',
    identity,
    ...extra,
  });
  try {
    return (await ssh.exec({ program: 'echo in' })).stdout;
  } finally {
    await ssh.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<BootstrapError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'HOST_KEY_MISMATCH', error.message);
    return error;
  }
  assert.fail('the host was accepted');
}

describe('host keys against a real sshd with ed25519, ecdsa and rsa keys', () => {
  let sshd: SshdHost;
  let other: SshdHost;
  let dir: string;
  const file = (name: string) => join(dir, name);
  const hostName = () => `[127.0.0.1]:${sshd.port}`;
  const ed25519 = () => sshd.hostPublicKeys[0]!;
  const ecdsa = () => sshd.hostPublicKeys[1]!;
  const rsa = () => sshd.hostPublicKeys[2]!;
  const trying = (knownHosts: string, extra: Partial<SshTransportOptions> = {}) =>
    login(sshd, { knownHosts, ...extra }, sshd.identityFile);

  before(async () => {
    [sshd, other] = await Promise.all([
      startSshd({ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] }),
      startSshd(),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'known-hosts-'));
  });
  after(async () => {
    await Promise.all([sshd.stop(), other.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a plain [host]:port entry, whichever of its keys is listed', async () => {
    for (const key of [ed25519(), ecdsa(), rsa()]) {
      await writeFile(
        file('plain'),
        `# a comment\n\nother.example ${other.hostPublicKeys[0]}\n${hostName()} ${key}\n`,
      );
      assert.equal(await trying(file('plain')), 'in\n', key.split(' ')[0]);
    }
  });

  it('accepts several keys for one host, on one line each', async () => {
    await writeFile(file('several'), `${hostName()} ${rsa()}\n${hostName()} ${ecdsa()}\n`);
    assert.equal(await trying(file('several')), 'in\n');
  });

  it('accepts entries hashed by ssh-keygen -H', async () => {
    await writeFile(file('hashed'), `${hostName()} ${ed25519()}\n`);
    await run('ssh-keygen', ['-q', '-H', '-f', file('hashed')]);
    const text = await readFile(file('hashed'), 'utf8');
    assert.match(text, /^\|1\|/);
    assert.ok(!text.includes('127.0.0.1'));
    assert.equal(await trying(file('hashed')), 'in\n');
  });

  it('honours wildcards and negated patterns', async () => {
    await writeFile(file('wild'), `[127.0.0.*]:${sshd.port} ${ed25519()}\n`);
    assert.equal(await trying(file('wild')), 'in\n');
    await writeFile(file('negated'), `[127.0.0.*]:${sshd.port},!${hostName()} ${ed25519()}\n`);
    const error = await refusal(trying(file('negated')));
    assert.equal(error.details['reason'], 'unknown');
  });

  it('does not take a port-22 entry for a host on another port', async () => {
    await writeFile(file('port22'), `127.0.0.1 ${ed25519()}\n`);
    assert.equal((await refusal(trying(file('port22')))).details['reason'], 'unknown');
  });

  it('refuses a host whose key differs from the listed one: "changed"', async () => {
    await writeFile(file('changed'), `${hostName()} ${other.hostPublicKeys[0]}\n`);
    const error = await refusal(trying(file('changed')));
    assert.equal(error.details['reason'], 'changed');
    assert.equal(error.details['port'], sshd.port);
    assert.match(String(error.details['fingerprint']), /^SHA256:/);
    // accept-new never overrides a changed key
    const again = await refusal(trying(file('changed'), { acceptNewHostKey: true }));
    assert.equal(again.details['reason'], 'changed');
    assert.equal(await readFile(file('changed'), 'utf8'), `${hostName()} ${other.hostPublicKeys[0]}\n`);
  });

  it('refuses a host with no entry, or no file: "unknown"', async () => {
    await writeFile(file('empty'), '');
    assert.equal((await refusal(trying(file('empty')))).details['reason'], 'unknown');
    assert.equal((await refusal(trying(file('missing')))).details['reason'], 'unknown');
  });

  it('refuses a @revoked key even when it is also listed as trusted', async () => {
    await writeFile(file('revoked'), `${hostName()} ${ed25519()}\n@revoked * ${ed25519()}\n`);
    assert.equal((await refusal(trying(file('revoked')))).details['reason'], 'revoked');
  });

  it('refuses a host trusted only through @cert-authority, saying so', async () => {
    await writeFile(file('ca'), `@cert-authority [127.0.0.*]:* ${other.hostPublicKeys[0]}\n`);
    const error = await refusal(trying(file('ca')));
    assert.equal(error.details['reason'], 'unknown');
    assert.match(error.message, /@cert-authority/);
  });

  it('checks a pinned SHA256 fingerprint instead of known_hosts', async () => {
    const pinned = { hostKey: sshd.hostKeyFingerprint };
    assert.equal(await trying(file('missing'), pinned), 'in\n');
    const error = await refusal(trying(file('missing'), { hostKey: other.hostKeyFingerprint }));
    assert.equal(error.details['reason'], 'changed');
  });

  it('accept-new records the key so that OpenSSH itself then accepts the host', async () => {
    const knownHosts = join(dir, 'new', '.ssh', 'known_hosts');
    assert.equal(await trying(knownHosts, { acceptNewHostKey: true }), 'in\n');
    assert.equal(await trying(knownHosts, { acceptNewHostKey: true }), 'in\n');
    const lines = (await readFile(knownHosts, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1, 'recorded once');
    assert.equal(await trying(knownHosts), 'in\n');
    const { stdout } = await run('ssh', [
      '-F',
      '/dev/null',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-i',
      sshd.identityFile,
      '-p',
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
      'echo openssh-accepts',
    ]);
    assert.equal(stdout, 'openssh-accepts\n');
  });
});

describe('host keys against a fake server: nothing is sent to a refused host', () => {
  let fake: FakeSshServer;
  let dir: string;
  let identity: string;
  before(async () => {
    fake = await startFakeSshServer();
    dir = await mkdtemp(join(tmpdir(), 'known-hosts-'));
    identity = (await generateClientKey(dir)).identityFile;
  });
  after(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a changed key: HOST_KEY_MISMATCH "changed", the auth handler never called', async () => {
    const other = await startFakeSshServer();
    await other.close();
    const knownHosts = join(dir, 'changed');
    await writeFile(knownHosts, `[127.0.0.1]:${fake.port} ${other.hostPublicKey}\n`);
    const error = await refusal(login(fake, { knownHosts }, identity));
    assert.equal(error.details['reason'], 'changed');
    assert.equal(error.details['fingerprint'], fake.hostKeyFingerprint);
    assert.equal(fake.connections, 1);
    assert.equal(fake.authAttempts, 0);
    assert.equal(fake.execs, 0);
  });

  it('an unknown host: "unknown", the auth handler never called', async () => {
    const before = fake.connections;
    const error = await refusal(login(fake, { knownHosts: join(dir, 'none') }, identity));
    assert.equal(error.details['reason'], 'unknown');
    assert.equal(fake.connections, before + 1);
    assert.equal(fake.authAttempts, 0);
  });

  it('accept-new, two first connections at once meeting two keys: one is recorded, the other is "changed"', async () => {
    const other = await startFakeSshServer();
    // One address, two servers in turn: the second connection meets another key than the first.
    let turn = 0;
    const sockets: Socket[] = [];
    const relay = createServer((socket) => {
      const upstream = connect((turn++ % 2 === 0 ? fake : other).port, '127.0.0.1');
      sockets.push(socket, upstream);
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as { port: number }).port;
    const knownHosts = join(dir, 'accept-new-race');
    try {
      // Two users: two connections, not one shared.
      const outcomes = await Promise.allSettled(
        ['alice', 'bob'].map(async (user) => {
          const ssh = createSshTransport({
            host: '127.0.0.1',
            port,
            user,
            identity,
            knownHosts,
            acceptNewHostKey: true,
          });
          try {
            return (await ssh.exec({ program: 'echo in' })).stdout;
          } finally {
            await ssh.close();
          }
        }),
      );
      const lines = (await readFile(knownHosts, 'utf8')).split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `one key recorded: ${lines.join(' | ')}`);
      assert.deepEqual(
        outcomes.map((o) => o.status).sort(),
        ['fulfilled', 'rejected'],
        JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : o.value))),
      );
      const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      assert.ok(refused.reason instanceof BootstrapError);
      assert.equal(refused.reason.code, 'HOST_KEY_MISMATCH');
      assert.equal(refused.reason.details['reason'], 'changed');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
      await other.close();
    }
  });

  it('the trusted key: the same server is then used', async () => {
    const knownHosts = join(dir, 'right');
    await writeFile(knownHosts, `[127.0.0.1]:${fake.port} ${fake.hostPublicKey}\n`);
    assert.equal(await login(fake, { knownHosts }, identity), 'in\n');
    // ssh2 asks whether the key is acceptable, then signs: two calls of the handler.
    assert.ok(fake.authAttempts > 0);
  });
});
