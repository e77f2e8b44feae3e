/**
 * The CLI process as an operator runs it, with an existing `~/.ssh` (SPEC 3.2 v2): `--host
 * cloud1` goes where `ssh cloud1` would, from `~/.ssh/config` in the HOME given to the process;
 * `-F` reads another file; and `/etc/ssh/ssh_known_hosts` is trusted after the user's file
 * (checked in a private mount namespace, so this machine's /etc/ssh is never touched).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';
import { createSandbox, ownedBy, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, startSshd } from '../support/sshd.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'cloudiq-bootstrap.js');

function runProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the CLI with an operator’s ~/.ssh', () => {
  let sshd: SshdHost;
  let sandbox: Sandbox;
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const user = await ensureTestUser();
    sshd = await startSshd();
    sandbox = createSandbox(ownedBy(user));
    home = await mkdtemp(join(tmpdir(), 'cli-home-'));
    await mkdir(join(home, '.ssh'), { mode: 0o700 });
    env = { ...process.env, HOME: home };
    delete env['SSH_AUTH_SOCK'];
  });
  after(async () => {
    sandbox.cleanup();
    await sshd.stop();
    await rm(home, { recursive: true, force: true });
  });

  const paths = () => ['--config', sandbox.configPath, '--state-dir', sandbox.stateDir];
  /** `server.mode --json` at `target`, with the test key, no ssh config and the test known_hosts. */
  const modeWithKey = (...target: string[]) =>
    runCli([
      ...target,
      '-i',
      sshd.identityFile,
      '-F',
      '/dev/null',
      '--known-hosts',
      sshd.knownHostsFile,
      ...paths(),
      'server.mode',
      '--json',
    ]);

  it('--host cloud1 connects where `ssh cloud1` would, from ~/.ssh/config', async () => {
    await writeFile(
      join(home, '.ssh', 'config'),
      [
        'Host cloud1',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        `  User ${sshd.user}`,
        `  IdentityFile ${sshd.identityFile}`,
        '',
      ].join('\n'),
    );
    await writeFile(
      join(home, '.ssh', 'known_hosts'),
      `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeys[0]}\n`,
    );
    const result = await runProcess(
      process.execPath,
      [BIN, '--host', 'cloud1', ...paths(), 'server.mode', '--json'],
      env,
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout)), ['mode']);
    assert.equal(await sshd.acceptedLogins(), 1);
  });

  it('-F FILE reads that file instead of ~/.ssh/config', async () => {
    const other = join(home, 'other_config');
    await writeFile(other, ['Host cloud1', '  HostName 127.0.0.1', '  Port 1', ''].join('\n'));
    const result = await runProcess(
      process.execPath,
      [BIN, '-F', other, '--host', 'cloud1', '-i', sshd.identityFile, ...paths(), 'server.mode', '--json'],
      env,
    );
    assert.equal(result.code, 5, result.stdout + result.stderr);
    assert.equal(JSON.parse(result.stdout).error.code, 'UNREACHABLE');
    assert.match(JSON.parse(result.stdout).error.message, /127\.0\.0\.1:1\b/);
  });

  it('takes ssh’s short flags: -p PORT, -i KEY, -F FILE', async () => {
    const result = await modeWithKey('--host', `${sshd.user}@127.0.0.1`, '-p', String(sshd.port));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout)), ['mode']);
    const twice = await runCli(['--host', `127.0.0.1:${sshd.port}`, '-p', '22', ...paths(), 'server.mode']);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /two ports/);
  });

  it('takes ssh’s URI form, ssh://USER@HOST:PORT, and refuses another scheme rather than read it as a user', async () => {
    const uri = await modeWithKey('--host', `ssh://${sshd.user}@127.0.0.1:${sshd.port}`);
    assert.equal(uri.code, 0, uri.stdout + uri.stderr);
    assert.deepEqual(Object.keys(JSON.parse(uri.stdout)), ['mode']);
    const other = await runCli(['--host', `sftp://${sshd.user}@127.0.0.1`, ...paths(), 'server.mode']);
    assert.equal(other.code, 2, other.stdout + other.stderr);
    assert.match(
      other.stderr,
      /INVALID_REQUEST: invalid ssh address "sftp:\/\/.*ssh:\/\/\[USER@\]HOST\[:PORT\]/,
    );
  });

  it('trusts /etc/ssh/ssh_known_hosts after the user’s own file', async (t) => {
    const probe = await runProcess('unshare', ['--mount', '--propagation', 'private', 'true'], env);
    if (probe.code !== 0) {
      t.diagnostic(
        'not implemented here: no mount namespaces (unshare) on this machine to stand in for /etc/ssh',
      );
      assert.fail(`unshare --mount is needed for this test: ${probe.stderr}`);
    }
    const etc = await mkdtemp(join(tmpdir(), 'etc-ssh-'));
    try {
      await writeFile(join(etc, 'ssh_known_hosts'), `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeys[0]}\n`);
      await writeFile(join(home, '.ssh', 'known_hosts'), '');
      await writeFile(join(home, '.ssh', 'config'), '');
      const args = [
        BIN,
        '--host',
        `${sshd.user}@127.0.0.1:${sshd.port}`,
        '--identity',
        sshd.identityFile,
        ...paths(),
        'server.mode',
        '--json',
      ];
      const inNamespace = (dir: string) =>
        runProcess(
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            'sh',
            '-c',
            'mount --bind "$0" /etc/ssh && exec "$@"',
            dir,
            process.execPath,
            ...args,
          ],
          env,
        );
      const trusted = await inNamespace(etc);
      assert.equal(trusted.code, 0, trusted.stdout + trusted.stderr);
      assert.deepEqual(Object.keys(JSON.parse(trusted.stdout)), ['mode']);
      // The same run with an empty /etc/ssh: the host is unknown.
      const empty = await mkdtemp(join(tmpdir(), 'etc-ssh-empty-'));
      const unknown = await inNamespace(empty);
      await rm(empty, { recursive: true, force: true });
      assert.equal(unknown.code, 5, unknown.stdout + unknown.stderr);
      assert.equal(JSON.parse(unknown.stdout).error.details.reason, 'unknown');
    } finally {
      await rm(etc, { recursive: true, force: true });
    }
  });
});
