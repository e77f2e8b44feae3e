import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import { createDelayProxy, type DelayProxy } from '../../bench/delay-proxy.ts';
import { sshAlgorithms } from '../../lib/transport/ssh/algorithms.ts';
import { resolveEndpoint } from '../../lib/transport/ssh/endpoint.ts';
import { createSshTransport, REMOTE_COMMAND } from '../../lib/transport/ssh/index.ts';
import { pipelineAuth } from '../../lib/transport/ssh/pipelined-auth.ts';
import { SshPool } from '../../lib/transport/ssh/pool.ts';
import { startDropbear } from '../support/dropbear.ts';
import { keyQueries, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

const run = promisify(execFile);
const RTT_MS = 10;

/**
 * A login and the first program in as few round trips as the protocol allows, counted by the
 * bench's delay proxy on the connection's critical path, TCP handshake included:
 *
 * - the first auth request goes out with the service request (lib/transport/ssh/pipelined-auth.ts);
 * - with a sole key of our own and an OpenSSH server, the first program's channel is asked for
 *   right behind the signed login request (connect.ts `speculateFirstExec`).
 *
 * A new connection and one program: 6 round trips against sshd (ed25519, RSA and ECDSA keys: an
 * RSA key still signs rsa-sha2-*, which sshd requires); 8 before either, as with two keys to try
 * where the first is refused (the channel then waits for the login, and each key costs one).
 */
describe('a login and its first program in the fewest round trips', () => {
  let dir: string;
  let proxy: DelayProxy;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pipelined-auth-'));
    proxy = createDelayProxy(RTT_MS);
  });
  after(async () => {
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The host behind the proxy: its port there, and a known_hosts file naming that port. */
  async function behindProxy(host: SshdHost) {
    const port = await proxy.listen('127.0.0.1', { host: host.host, port: host.port });
    const knownHostsFile = join(dir, `known_hosts-${port}`);
    await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${host.hostPublicKeys[0]}\n`);
    return { ...host, port, knownHostsFile };
  }

  /** Round trips that `work` took through the proxy. */
  async function roundTrips(work: () => Promise<void>): Promise<number> {
    const before = proxy.counters().roundTrips;
    await work();
    return proxy.counters().roundTrips - before;
  }

  /** A new key pair in the test's dir: `{ identityFile, publicKey }`, as startSshd takes it. */
  async function keyPair(name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519') {
    const identityFile = join(dir, `id_${name}`);
    await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', identityFile]);
    return { identityFile, publicKey: (await readFile(`${identityFile}.pub`, 'utf8')).trim() };
  }

  async function ourExec(host: SshdHost): Promise<void> {
    const ssh = sshTransportTo(host, { hostSessions: false });
    try {
      assert.equal((await ssh.exec({ program: 'echo in' })).stdout, 'in\n');
    } finally {
      await ssh.close();
    }
  }

  for (const type of ['ed25519', 'rsa', 'ecdsa'] as const) {
    it(`sshd, ${type} key: 6 round trips to a program's answer, no key query`, async () => {
      const sshd = await startSshd({ clientKey: await keyPair(type, type) });
      try {
        const proxied = await behindProxy(sshd);
        assert.equal(await roundTrips(() => ourExec(proxied)), 6);
        assert.equal(await sshd.acceptedLogins(), 1);
        assert.equal(await keyQueries(sshd), 0);
      } finally {
        await sshd.stop();
      }
    });
  }

  it('two keys to try, the first refused: the channel waits for the login (8 round trips, one a key)', async () => {
    const refused = await keyPair('two-refused');
    const good = await keyPair('two-good');
    const sshd = await startSshd({ clientKey: good, extraConfig: ['LogLevel DEBUG'] });
    try {
      const proxied = await behindProxy(sshd);
      const config = join(dir, 'two-keys.conf');
      await writeFile(
        config,
        `Host *\n  IdentityFile ${refused.identityFile}\n  IdentityFile ${good.identityFile}\n`,
      );
      const both = createSshTransport({
        host: proxied.host,
        port: proxied.port,
        user: proxied.user,
        knownHosts: proxied.knownHostsFile,
        sshConfig: config,
        agent: false,
        hostSessions: false,
      });
      const trips = await roundTrips(async () => {
        try {
          assert.equal((await both.exec({ program: 'echo in' })).stdout, 'in\n');
        } finally {
          await both.close();
        }
      });
      assert.equal(trips, 8);
      assert.equal(await sshd.acceptedLogins(), 1);
      const log = await readFile(sshd.logFile, 'utf8');
      assert.doesNotMatch(log, /dispatch_protocol_error/, 'a channel request reached sshd before the login');
    } finally {
      await sshd.stop();
    }
  });

  it('a sole key the host refuses: AUTH_FAILED, the channel asked for with it refused by sshd', async () => {
    const { identityFile } = await keyPair('stranger');
    const sshd = await startSshd({ extraConfig: ['LogLevel DEBUG'] });
    try {
      const stranger = sshTransportTo(sshd, { identity: identityFile, hostSessions: false });
      try {
        await assert.rejects(stranger.exec({ program: 'echo in' }), { code: 'AUTH_FAILED' });
      } finally {
        await stranger.close();
      }
      // The request came in before any login succeeded: sshd answered it UNIMPLEMENTED and went on
      // (its log may be written a moment after our connection is gone).
      const deadline = Date.now() + 5_000;
      let log = '';
      while (!/dispatch_protocol_error: type 90/.test(log) && Date.now() < deadline) {
        await sleep(50);
        log = await readFile(sshd.logFile, 'utf8');
      }
      assert.match(log, /dispatch_protocol_error: type 90/);
      assert.equal(await sshd.acceptedLogins(), 0);
    } finally {
      await sshd.stop();
    }
  });

  it('a connection whose first program runs another command closes the early channel, having run nothing', async () => {
    const sshd = await startSshd({ extraConfig: ['LogLevel DEBUG'] });
    const pool = new SshPool();
    try {
      const endpoint = resolveEndpoint({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        identity: sshd.identityFile,
        knownHosts: sshd.knownHostsFile,
        agent: false,
      });
      // Asked for with the login: a command that keeps what it reads and says when its stdin ended.
      const marker = join(sshd.stateDir, 'early');
      const connection = pool.connectionFor(endpoint, `cat > ${marker}.read; echo ended > ${marker}`);
      const answer = await connection.exec(REMOTE_COMMAND, 'echo in', new AbortController().signal);
      assert.equal(answer.stdout, 'in\n');
      // The connection is still open: the early channel's stdin was ended, with nothing on it.
      const ended = () => readFile(marker, 'utf8').catch(() => '');
      const deadline = Date.now() + 5_000;
      while ((await ended()) !== 'ended\n' && Date.now() < deadline) await sleep(50);
      assert.equal(await ended(), 'ended\n');
      assert.equal(await readFile(`${marker}.read`, 'utf8'), '');
      assert.equal(await sshd.acceptedLogins(), 1);
    } finally {
      await pool.close();
      await sshd.stop();
    }
  });

  it('dropbear: logs in, in no more round trips than sshd', async () => {
    const dropbear = await startDropbear();
    try {
      const proxied = await behindProxy(dropbear);
      const trips = await roundTrips(() => ourExec(proxied));
      // Not OpenSSH: the channel waits for the login (dropbear ends a connection that asks sooner).
      assert.ok(trips <= 7, `${trips} round trips`);
      assert.equal(await dropbear.acceptedLogins(), 1);
    } finally {
      await dropbear.stop();
    }
  });

  it('the same ssh2 client with the hook takes exactly one round trip less than without it', async () => {
    const sshd = await startSshd({});
    try {
      const proxied = await behindProxy(sshd);
      const privateKey = await readFile(sshd.identityFile);
      const expected = Buffer.from(sshd.hostPublicKeys[0]!.split(' ')[1]!, 'base64');
      const login = (hook: boolean) =>
        new Promise<void>((resolve, reject) => {
          const client = new ssh2.Client();
          client.on('error', reject);
          client.on('ready', () => client.end());
          client.on('close', () => resolve());
          client.connect({
            host: proxied.host,
            port: proxied.port,
            username: sshd.user,
            privateKey,
            authHandler: ['publickey'],
            algorithms: sshAlgorithms(['ssh-ed25519']),
            hostVerifier: (key: Buffer) => key.equals(expected),
          });
          if (hook) pipelineAuth(client);
        });
      const without = await roundTrips(() => login(false));
      const withHook = await roundTrips(() => login(true));
      assert.equal(without - withHook, 1, `without ${without}, with ${withHook}`);
    } finally {
      await sshd.stop();
    }
  });

  describe('the order of events it waits for', () => {
    type Event = 'service' | 'ext-info' | 'accept';
    /**
     * Delivers `events` to a stand-in for ssh2's protocol with the hook on, and says what reached
     * the original handlers: `→ EVENT` marks where each event was delivered, so an auth started by
     * the hook shows before the accept that would have started it.
     */
    function deliver(service: string, events: Event[]): string[] {
      const seen: string[] = [];
      const protocol = {
        service: (name: string) => seen.push(`service ${name}`),
        _handlers: {
          SERVICE_ACCEPT: (_p: unknown, name: unknown) => seen.push(`accept ${String(name)}`),
          EXT_INFO: () => seen.push('ext-info'),
        },
      };
      pipelineAuth({ _protocol: protocol } as unknown as ssh2.Client);
      const h = protocol._handlers as Record<string, (...args: unknown[]) => void>;
      for (const event of events) {
        seen.push(`→ ${event}`);
        if (event === 'service') protocol.service(service);
        else if (event === 'ext-info') h['EXT_INFO']!(protocol, []);
        else h['SERVICE_ACCEPT']!(protocol, service);
      }
      return seen;
    }

    const cases: Array<{ name: string; service: string; events: Event[]; seen: string[] }> = [
      {
        name: 'EXT_INFO after the service request starts auth there; the accept that follows is let go',
        service: 'ssh-userauth',
        events: ['service', 'ext-info', 'accept'],
        seen: [
          '→ service',
          'service ssh-userauth',
          '→ ext-info',
          'ext-info',
          'accept ssh-userauth',
          '→ accept',
        ],
      },
      {
        name: 'EXT_INFO before the service request: auth starts right after the request',
        service: 'ssh-userauth',
        events: ['ext-info', 'service', 'accept'],
        seen: [
          '→ ext-info',
          'ext-info',
          '→ service',
          'service ssh-userauth',
          'accept ssh-userauth',
          '→ accept',
        ],
      },
      {
        name: 'a server that sends no EXT_INFO: auth waits for the accept, as ssh2 does',
        service: 'ssh-userauth',
        events: ['service', 'accept', 'ext-info'],
        seen: [
          '→ service',
          'service ssh-userauth',
          '→ accept',
          'accept ssh-userauth',
          '→ ext-info',
          'ext-info',
        ],
      },
      {
        name: 'another service is ssh2’s own business',
        service: 'ssh-connection',
        events: ['service', 'ext-info', 'accept'],
        seen: [
          '→ service',
          'service ssh-connection',
          '→ ext-info',
          'ext-info',
          '→ accept',
          'accept ssh-connection',
        ],
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        assert.deepEqual(deliver(c.service, c.events), c.seen);
      });
    }
  });
});
