import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { skipHostKeyProof } from '../../lib/transport/ssh/host-key-proof.ts';
import { type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

/** The global requests sshd was sent, by name, from its DEBUG log. */
async function globalRequests(sshd: SshdHost): Promise<string[]> {
  const log = await readFile(sshd.logFile, 'utf8').catch(() => '');
  return [...log.matchAll(/server_input_global_request: rtype (\S+)/g)].map((m) => m[1]!);
}

/** One login and `true` with ssh2 as it ships (or with `hook` applied after connect()). */
function oneExec(sshd: SshdHost, privateKey: Buffer, hook?: (client: ssh2.Client) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.exec('true', (error, stream) => {
        if (error) return reject(error);
        stream.resume();
        stream.on('close', () => client.end());
      });
    });
    client.on('close', () => resolve());
    client.connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey });
    hook?.(client);
  });
}

/**
 * sshd announces every host key it holds after login; ssh2 would ask it to prove each one (a
 * signature per key on the host, a check per key here) for an event nobody listens to. Our
 * connections let the announcement go (lib/transport/ssh/host-key-proof.ts).
 */
describe('no proof of the host’s other keys', () => {
  let sshd: SshdHost;
  before(async () => {
    sshd = await startSshd({ hostKeyTypes: ['ed25519', 'rsa', 'ecdsa'], extraConfig: ['LogLevel DEBUG'] });
  });
  after(() => sshd.stop());

  it('ssh2 as it ships asks the host to prove its keys; with the hook it asks nothing', async () => {
    const key = await readFile(sshd.identityFile);
    let seen = (await globalRequests(sshd)).length;
    const sentBy = async (hook?: (client: ssh2.Client) => void) => {
      await oneExec(sshd, key, hook);
      const all = await globalRequests(sshd);
      const sent = all.slice(seen);
      seen = all.length;
      return sent;
    };
    assert.deepEqual(await sentBy(), ['hostkeys-prove-00@openssh.com']);
    assert.deepEqual(await sentBy(skipHostKeyProof), []);
  });

  it('our transport asks no proof, on every connection it makes', async () => {
    const before = (await globalRequests(sshd)).length;
    const logins = await sshd.acceptedLogins();
    for (const hostSessions of [true, false]) {
      const ssh = sshTransportTo(sshd, { hostSessions });
      try {
        assert.equal((await ssh.exec({ program: 'echo in' })).stdout, 'in\n');
        assert.equal((await ssh.exec({ program: 'echo again' })).stdout, 'again\n');
      } finally {
        await ssh.close();
      }
    }
    assert.equal(await sshd.acceptedLogins(), logins + 2);
    assert.deepEqual((await globalRequests(sshd)).slice(before), []);
  });

  it('every other request from the host still reaches ssh2, and a reply asked for is still given', () => {
    const passed: string[] = [];
    let replies = 0;
    const protocol = {
      _handlers: {
        GLOBAL_REQUEST: (_p: unknown, name: string) => {
          passed.push(name);
        },
      },
      requestSuccess: () => {
        replies += 1;
      },
    };
    const client = { _protocol: protocol } as unknown as ssh2.Client;
    skipHostKeyProof(client);
    const handle = protocol._handlers.GLOBAL_REQUEST as (
      p: unknown,
      n: string,
      w: boolean,
      d: unknown,
    ) => void;
    handle(protocol, 'hostkeys-00@openssh.com', false, [Buffer.from('key')]);
    handle(protocol, 'keepalive@openssh.com', true, null);
    handle(protocol, 'hostkeys-00@openssh.com', true, [Buffer.from('key')]);
    assert.deepEqual(passed, ['keepalive@openssh.com']);
    assert.equal(replies, 1, 'an announcement that asks a reply gets one');
    // A client whose protocol is not as expected is left as it is.
    const other = { _protocol: {} } as unknown as ssh2.Client;
    skipHostKeyProof(other);
    assert.deepEqual((other as unknown as { _protocol: object })._protocol, {});
  });
});
