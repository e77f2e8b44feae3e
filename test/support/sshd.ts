/**
 * Real OpenSSH `sshd` processes on 127.0.0.1 for tests and benchmarks: each with its own
 * config, host keys, authorized key, port, log and state dir, so several make a loopback fleet.
 * Logins use a user whose shell is /bin/sh (as root: `bootstrap-test`, created when missing),
 * because root's bash init here costs ~90 ms per exec and would swamp what is measured.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createSshTransport, type SshTransportOptions } from '../../lib/transport/ssh/index.ts';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
export const TEST_USER = 'bootstrap-test';

// sshd runs in its own process group and outlives a test process that ends without stop() (a
// crash, an un-awaited stop): this net kills what is left and removes its files at exit.
const live = new Map<number, string>();
process.once('exit', () => {
  for (const [pid, dir] of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

export interface SshdOptions {
  /** sshd's MaxSessions (channels per connection); OpenSSH's default 10 when unset. */
  maxSessions?: number;
  /** sshd's MaxStartups, e.g. `2:100:2`; OpenSSH's default when unset. */
  maxStartups?: string;
  /** Host key types to generate; the first is the one the known_hosts file lists. Default ed25519. */
  hostKeyTypes?: Array<'ed25519' | 'ecdsa' | 'rsa'>;
  /** A client key to authorize (a fleet shares one); a new one otherwise. */
  clientKey?: ClientKey;
  /** More sshd_config lines; they come first, so they override ours (sshd keeps a keyword's first value). */
  extraConfig?: string[];
}

export interface ClientKey {
  identityFile: string;
  publicKey: string;
}

export interface SshdHost {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  /** A known_hosts file holding this host's first key as `[127.0.0.1]:PORT TYPE KEY`. */
  knownHostsFile: string;
  /** `SHA256:…` of the first host key. */
  hostKeyFingerprint: string;
  /** Every host key as `TYPE BASE64`, in `hostKeyTypes` order. */
  hostPublicKeys: string[];
  /** A directory the login user owns, for the host's state. */
  stateDir: string;
  /** The temp dir holding everything of this sshd. */
  dir: string;
  logFile: string;
  /** Connections sshd authenticated so far (from its log). */
  acceptedLogins(): Promise<number>;
  stop(): Promise<void>;
}

/** The user sshd logs in: `bootstrap-test` (with /bin/sh) as root, else the current user. */
export async function ensureTestUser(): Promise<string> {
  if (process.getuid?.() !== 0) return userInfo().username;
  const exists = () =>
    run('id', ['-u', TEST_USER]).then(
      () => true,
      () => false,
    );
  if (!(await exists())) {
    // `*`, not the locked `!`: with UsePAM no, sshd refuses even key logins to locked accounts.
    // Home `/` so that sshd does not print "Could not chdir to home directory" on every exec.
    await run('useradd', ['-M', '-d', '/', '-s', '/bin/sh', '-p', '*', TEST_USER]).catch(
      async (error: unknown) => {
        if (!(await exists())) throw error; // another test file created it meanwhile
      },
    );
  }
  return TEST_USER;
}

/** Gives the login user a path (recursively), so programs run over SSH can write there. */
export async function grantToTestUser(path: string): Promise<void> {
  const user = await ensureTestUser();
  if (process.getuid?.() !== 0) return;
  await run('chown', ['-R', `${user}:`, path]);
}

/** Generates an ed25519 client key pair in `dir`. */
export async function generateClientKey(dir: string): Promise<ClientKey> {
  const identityFile = join(dir, 'client_ed25519');
  await run('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'bootstrap-test-client',
    '-f',
    identityFile,
  ]);
  return { identityFile, publicKey: (await readFile(`${identityFile}.pub`, 'utf8')).trim() };
}

/** Starts one sshd on a free loopback port and waits until it answers with its banner. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdHost> {
  const user = await ensureTestUser();
  const dir = await mkdtemp(join(tmpdir(), 'sshd-'));
  try {
    // sshd reads authorized_keys as the login user: the dir must be traversable.
    await chmod(dir, 0o755);
    if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const clientKey = options.clientKey ?? (await generateClientKey(dir));
    await writeFile(join(dir, 'authorized_keys'), `${clientKey.publicKey}\n`, { mode: 0o644 });
    const types = options.hostKeyTypes ?? ['ed25519'];
    const hostPublicKeys: string[] = [];
    for (const type of types) {
      const file = join(dir, `ssh_host_${type}_key`);
      await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', file]);
      const [keyType, base64] = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
      hostPublicKeys.push(`${keyType} ${base64}`);
    }
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { mode: 0o755 });
    await grantToTestUser(stateDir);
    const { stdout } = await run('ssh-keygen', [
      '-l',
      '-E',
      'sha256',
      '-f',
      join(dir, `ssh_host_${types[0]}_key.pub`),
    ]);
    const hostKeyFingerprint = stdout.split(/\s+/)[1]!;
    const logFile = join(dir, 'sshd.log');

    return await launchServer(
      { name: 'sshd', dir, logFile, user, clientKey, hostPublicKeys, hostKeyFingerprint, stateDir },
      'Accepted publickey for',
      async (port) => {
        await writeFile(join(dir, 'sshd_config'), sshdConfig(dir, port, user, types, options));
        return spawn(SSHD, ['-D', '-E', logFile, '-f', join(dir, 'sshd_config')], {
          stdio: 'ignore',
          detached: true,
        });
      },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** What a test server is, before it runs: startSshd's and startDropbear's. */
export interface ServerSpec {
  name: string;
  /** The temp dir holding everything of this server, removed by stop(). */
  dir: string;
  logFile: string;
  user: string;
  clientKey: ClientKey;
  /** `TYPE BASE64` of each host key; the first goes in known_hosts. */
  hostPublicKeys: string[];
  hostKeyFingerprint: string;
  stateDir: string;
}

/**
 * Starts a server (`start` spawns it, detached, on the port it is given) on a free loopback port
 * and waits for its SSH banner; tries other ports when it does not come up (most likely another
 * test took the port between our probe and its bind). Writes its known_hosts; `loginLine` is
 * what its log says for each key login (acceptedLogins); `stop` ends its process group and
 * removes its dir.
 */
export async function launchServer(
  spec: ServerSpec,
  loginLine: string,
  start: (port: number) => Promise<ChildProcess>,
): Promise<SshdHost> {
  const { dir, logFile } = spec;
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const child = await start(port);
    live.set(child.pid!, dir);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const running = () => child.exitCode === null && child.signalCode === null;
    if (!(await waitForBanner(port, exited))) {
      if (running()) {
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
      live.delete(child.pid!);
      if (attempt < 5) continue;
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`${spec.name} did not start: ${log.slice(-2000)}`);
    }
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${spec.hostPublicKeys[0]}\n`);
    return {
      host: '127.0.0.1',
      port,
      user: spec.user,
      identityFile: spec.clientKey.identityFile,
      knownHostsFile,
      hostKeyFingerprint: spec.hostKeyFingerprint,
      hostPublicKeys: spec.hostPublicKeys,
      stateDir: spec.stateDir,
      dir,
      logFile,
      async acceptedLogins() {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        return log.split('\n').filter((line) => line.includes(loginLine)).length;
      },
      async stop() {
        if (running()) {
          const kill = (signal: NodeJS.Signals) => {
            try {
              process.kill(-child.pid!, signal);
            } catch {}
          };
          kill('SIGTERM');
          const timer = setTimeout(() => kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
        live.delete(child.pid!);
      },
    };
  }
}

export interface SshFleet {
  hosts: SshdHost[];
  /** The one client key every host authorizes. */
  identityFile: string;
  /** A known_hosts file listing every host of the fleet. */
  knownHostsFile: string;
  stop(): Promise<void>;
}

/** Starts `count` sshd hosts sharing one client key, with one known_hosts file for all of them. */
export async function startSshFleet(
  count: number,
  options: Omit<SshdOptions, 'clientKey'> = {},
): Promise<SshFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'ssh-fleet-'));
  await chmod(dir, 0o755);
  const hosts: SshdHost[] = [];
  const stop = async () => {
    await Promise.all(hosts.map((host) => host.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const clientKey = await generateClientKey(dir);
    const started = await Promise.all(
      Array.from({ length: count }, async () => {
        const host = await startSshd({ ...options, clientKey });
        hosts.push(host);
        return host;
      }),
    );
    hosts.splice(0, hosts.length, ...started);
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(
      knownHostsFile,
      started.map((host) => `[127.0.0.1]:${host.port} ${host.hostPublicKeys[0]}\n`).join(''),
    );
    return { hosts, identityFile: clientKey.identityFile, knownHostsFile, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function sshdConfig(dir: string, port: number, user: string, types: string[], options: SshdOptions): string {
  return [
    ...(options.extraConfig ?? []),
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    ...types.map((type) => `HostKey ${join(dir, `ssh_host_${type}_key`)}`),
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `AllowUsers ${user}`,
    'UsePAM no',
    'StrictModes no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'LogLevel VERBOSE',
    ...(options.maxSessions === undefined ? [] : [`MaxSessions ${options.maxSessions}`]),
    ...(options.maxStartups === undefined ? [] : [`MaxStartups ${options.maxStartups}`]),
    '',
  ].join('\n');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** True once the port answers with an SSH banner; false if sshd exited or 10 s passed. */
async function waitForBanner(port: number, exited: Promise<void>): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 10_000;
  while (!gone && Date.now() < deadline) {
    const banner = await new Promise<string>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port });
      let data = '';
      sock.setTimeout(1000, () => sock.destroy());
      sock.on('data', (chunk) => {
        data += chunk.toString('latin1');
        if (data.includes('\n')) sock.destroy();
      });
      sock.on('error', () => {});
      sock.on('close', () => resolve(data));
    });
    if (banner.startsWith('SSH-2.0-')) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Key queries (a publickey request without a signature) this sshd has answered so far, from its log. */
export async function keyQueries(host: SshdHost): Promise<number> {
  const log = await readFile(host.logFile, 'utf8').catch(() => '');
  return log.split('\n').filter((line) => line.includes('Postponed publickey')).length;
}

/** An ssh transport to a test sshd: its address, login user, client key and known_hosts; `extra` adds to them. */
export function sshTransportTo(host: SshdHost, extra: Partial<SshTransportOptions> = {}) {
  return createSshTransport({
    host: host.host,
    port: host.port,
    user: host.user,
    identity: host.identityFile,
    knownHosts: host.knownHostsFile,
    ...extra,
  });
}
