/**
 * A real dropbear SSH server on 127.0.0.1 for tests, beside OpenSSH's sshd: the same login user
 * (`bootstrap-test` as root, else the current user), its own ed25519 host key, port, log and
 * state dir, and an SshdHost like startSshd's, so the same tests run over both servers.
 *
 * dropbear reads only `~/.ssh/authorized_keys` and has no option to name another file. It runs
 * in a mount namespace of its own (`unshare`; a user namespace too when not root) where
 * /etc/passwd is a copy giving the login user a home in this server's dir: nothing outside the
 * namespace changes. Unlike sshd, dropbear creates a session's stdin pipe before it drops to the
 * user, so the program cannot reopen it by name (`/dev/stdin`: EACCES).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fingerprintOf } from '../../lib/transport/ssh/index.ts';
import { type ClientKey, ensureTestUser, generateClientKey, launchServer, type SshdHost } from './sshd.ts';

const run = promisify(execFile);
const DROPBEAR = '/usr/sbin/dropbear';

/** /etc/passwd with `user`'s home set to `home`. */
function passwdWithHome(passwd: string, user: string, home: string): string {
  let found = false;
  const lines = passwd.split('\n').map((line) => {
    const fields = line.split(':');
    if (fields[0] !== user || fields.length < 7) return line;
    found = true;
    fields[5] = home;
    return fields.join(':');
  });
  if (!found) throw new Error(`dropbear: ${user} is not in /etc/passwd`);
  return lines.join('\n');
}

/** Starts one dropbear on a free loopback port and waits until it answers with its banner. */
export async function startDropbear(options: { clientKey?: ClientKey } = {}): Promise<SshdHost> {
  const user = await ensureTestUser();
  const root = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'dropbear-'));
  try {
    await chmod(dir, 0o755);
    const clientKey = options.clientKey ?? (await generateClientKey(dir));
    const home = join(dir, 'home');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(home, '.ssh', 'authorized_keys'), `${clientKey.publicKey}\n`, { mode: 0o600 });
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { mode: 0o755 });
    if (root) {
      const ids = async (flag: string) => Number((await run('id', [flag, user])).stdout.trim());
      const [uid, gid] = [await ids('-u'), await ids('-g')];
      for (const path of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys'), stateDir])
        await chown(path, uid, gid);
    }
    const passwd = join(dir, 'passwd');
    await writeFile(passwd, passwdWithHome(await readFile('/etc/passwd', 'utf8'), user, home), {
      mode: 0o644,
    });
    const hostKey = join(dir, 'dropbear_ed25519_host_key');
    await run('dropbearkey', ['-t', 'ed25519', '-f', hostKey]);
    const publicLine = (await run('dropbearkey', ['-y', '-f', hostKey])).stdout
      .split('\n')
      .find((line) => line.startsWith('ssh-ed25519 '));
    if (publicLine === undefined) throw new Error('dropbearkey printed no ssh-ed25519 public key');
    const [keyType, base64 = ''] = publicLine.trim().split(/\s+/);
    const hostPublicKeys = [`${keyType} ${base64}`];
    const hostKeyFingerprint = fingerprintOf(Buffer.from(base64, 'base64'));
    const logFile = join(dir, 'dropbear.log');

    // -F foreground, -E log to stderr, -s no passwords, -m no motd. Not root: root of a user
    // namespace makes the mount, and a user namespace inside it gives dropbear our own ids back.
    const asUs = root
      ? ''
      : `unshare --user --map-user=${process.getuid?.()} --map-group=${process.getgid?.()} `;
    const script = `mount --bind "$1" /etc/passwd && exec ${asUs}"$2" -F -E -s -m -r "$3" -p "127.0.0.1:$4" -P "$5"`;
    return await launchServer(
      { name: 'dropbear', dir, logFile, user, clientKey, hostPublicKeys, hostKeyFingerprint, stateDir },
      'Pubkey auth succeeded for',
      async (port) => {
        const log = openSync(logFile, 'a');
        try {
          const namespaces = [
            ...(root ? [] : ['--user', '--map-root-user']),
            '--mount',
            '--propagation',
            'private',
          ];
          const args = [passwd, DROPBEAR, hostKey, String(port), join(dir, 'dropbear.pid')];
          return spawn('unshare', [...namespaces, 'sh', '-c', script, 'sh', ...args], {
            stdio: ['ignore', 'ignore', log],
            detached: true,
          });
        } finally {
          closeSync(log);
        }
      },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
