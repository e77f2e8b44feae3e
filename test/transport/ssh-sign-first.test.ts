import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import ssh2, { type ParsedKey } from 'ssh2';
import { loadClientKeys } from '../../lib/transport/ssh/auth.ts';
import { createSshTransport } from '../../lib/transport/ssh/index.ts';
import { keyQueries, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

const run = promisify(execFile);

/**
 * Our own keys (identity files) send their signed request at once (RFC 4252 §7): sshd answers
 * no query for them ("Postponed publickey" in its log is the answer to one), so a login costs one
 * round trip less; a refused key still ends in AUTH_FAILED, and the next key is still tried.
 */
describe('public-key login signs at once with the keys we hold', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sign-first-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function keyPair(type: 'ed25519' | 'rsa' | 'ecdsa', name: string = type) {
    const identityFile = join(dir, `id_${name}`);
    await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', identityFile]);
    return { identityFile, publicKey: (await readFile(`${identityFile}.pub`, 'utf8')).trim() };
  }

  for (const type of ['ed25519', 'rsa', 'ecdsa'] as const) {
    it(`${type}: logs in with no key query`, async () => {
      const clientKey = await keyPair(type);
      const sshd: SshdHost = await startSshd({ clientKey });
      const ssh = sshTransportTo(sshd, { hostSessions: false });
      try {
        assert.equal((await ssh.exec({ program: 'echo in' })).stdout, 'in\n');
        assert.equal(await sshd.acceptedLogins(), 1);
        assert.equal(await keyQueries(sshd), 0, 'sshd answered a key query');
      } finally {
        await ssh.close();
        await sshd.stop();
      }
    });
  }

  it('signs exactly as ssh2’s own key.sign does, for each key type and hash, again and again', async () => {
    const data = Buffer.from('session id and userauth request');
    for (const [type, hashes] of [
      ['ed25519', [undefined]],
      ['rsa', ['sha256', 'sha512']],
      ['ecdsa', [undefined]],
    ] as const) {
      const { identityFile } = await keyPair(type, `same-${type}`);
      const parsed = ssh2.utils.parseKey(await readFile(identityFile)) as ParsedKey;
      const agent = await loadClientKeys({ identity: identityFile, agent: false });
      for (const hash of hashes) {
        for (let twice = 0; twice < 2; twice += 1) {
          const ours = agent.signOwn(parsed, data, hash);
          assert.ok(ours instanceof Buffer, `${type}: ${String(ours)}`);
          if (type === 'ecdsa') {
            // ECDSA signatures are randomised: the key's own verify is the check.
            assert.equal(parsed.verify(data, ours, hash), true, type);
          } else {
            assert.deepEqual(ours, parsed.sign(data, hash), `${type} ${hash ?? ''}`);
          }
        }
      }
      // RSA asked for no hash would be SHA-1 (ssh-rsa): refused, as when SHA-1 is named.
      if (type === 'rsa') assert.match(String(agent.signOwn(parsed, data, undefined)), /SHA-1/);
    }
  });

  it('a key the host refuses: the next identity file is tried, and with none left AUTH_FAILED', async () => {
    const good = await keyPair('ed25519', 'good');
    const refused = (await keyPair('ed25519', 'refused')).identityFile;
    const sshd = await startSshd({ clientKey: good });
    try {
      // Two IdentityFile lines, the refused key first (as OpenSSH reads ~/.ssh/config).
      const config = join(dir, 'ssh_config');
      await writeFile(config, `Host *\n  IdentityFile ${refused}\n  IdentityFile ${good.identityFile}\n`);
      const both = createSshTransport({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        knownHosts: sshd.knownHostsFile,
        sshConfig: config,
        agent: false,
        hostSessions: false,
      });
      try {
        assert.equal((await both.exec({ program: 'echo in' })).stdout, 'in\n');
      } finally {
        await both.close();
      }
      const alone = sshTransportTo(sshd, { identity: refused, hostSessions: false });
      try {
        await assert.rejects(alone.exec({ program: 'echo in' }), { code: 'AUTH_FAILED' });
      } finally {
        await alone.close();
      }
      assert.equal(await keyQueries(sshd), 0);
    } finally {
      await sshd.stop();
    }
  });
});
