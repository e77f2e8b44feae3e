/**
 * Encrypted private keys (SPEC 3.2 v2) against a real sshd: through a real ssh-agent started
 * here, with CLOUDIQ_SSH_PASSPHRASE, typed at a prompt on a real terminal (a pty from util-linux
 * `script`), and with none of these — a clear error naming all three. Also the unknown host's
 * message, with its fingerprint and the ways to trust it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BootstrapError } from '../../lib/errors.ts';
import { createSshTransport, type SshEndpoint } from '../../lib/transport/ssh/index.ts';
import { runCli } from '../support/cli.ts';
import { keyQueries, type SshdHost, startSshd } from '../support/sshd.ts';

const run = promisify(execFile);
const PASSPHRASE = 'correct horse 7';
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'cloudiq-bootstrap.js');

describe('encrypted keys: agent, CLOUDIQ_SSH_PASSPHRASE, terminal prompt', () => {
  let sshd: SshdHost;
  let dir: string;
  let encrypted: string;
  let agent: ChildProcess | undefined;
  const saved = { sock: process.env['SSH_AUTH_SOCK'], pass: process.env['CLOUDIQ_SSH_PASSPHRASE'] };

  before(async () => {
    sshd = await startSshd();
    dir = await mkdtemp(join(tmpdir(), 'ssh-keys-'));
    encrypted = join(dir, 'id_encrypted');
    await copyFile(sshd.identityFile, encrypted);
    await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', PASSPHRASE, '-f', encrypted]);
    delete process.env['SSH_AUTH_SOCK'];
    delete process.env['CLOUDIQ_SSH_PASSPHRASE'];
  });
  after(async () => {
    agent?.kill();
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
    for (const [name, value] of [
      ['SSH_AUTH_SOCK', saved.sock],
      ['CLOUDIQ_SSH_PASSPHRASE', saved.pass],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  const endpoint = (): SshEndpoint => ({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identity: encrypted,
    knownHosts: sshd.knownHostsFile,
    sshConfig: false,
  });
  const exec = async (extra: Partial<SshEndpoint> = {}) => {
    const ssh = createSshTransport({ ...endpoint(), ...extra });
    try {
      return (await ssh.exec({ program: 'echo in' })).stdout;
    } finally {
      await ssh.close();
    }
  };

  it('with no agent, no variable and no terminal: AUTH_FAILED naming the three ways', async () => {
    await assert.rejects(exec(), (error: unknown) => {
      assert.ok(error instanceof BootstrapError);
      assert.equal(error.code, 'AUTH_FAILED');
      assert.match(error.message, /is encrypted/);
      assert.match(error.message, /ssh-add/);
      assert.match(error.message, /CLOUDIQ_SSH_PASSPHRASE/);
      assert.match(error.message, /terminal/);
      return true;
    });
    assert.equal(await sshd.acceptedLogins(), 0);
  });

  it('uses CLOUDIQ_SSH_PASSPHRASE; a wrong one is AUTH_FAILED naming the variable, not the value', async () => {
    process.env['CLOUDIQ_SSH_PASSPHRASE'] = 'not it';
    try {
      await assert.rejects(exec(), (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'AUTH_FAILED');
        assert.match(error.message, /CLOUDIQ_SSH_PASSPHRASE does not decrypt/);
        assert.doesNotMatch(JSON.stringify({ m: error.message, d: error.details }), /not it/);
        return true;
      });
      process.env['CLOUDIQ_SSH_PASSPHRASE'] = PASSPHRASE;
      assert.equal(await exec(), 'in\n');
    } finally {
      delete process.env['CLOUDIQ_SSH_PASSPHRASE'];
    }
  });

  it('uses the key through a real ssh-agent that holds it, with no passphrase at hand', async () => {
    const sock = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    for (let i = 0; i < 100; i += 1) {
      if (
        await run('test', ['-S', sock]).then(
          () => true,
          () => false,
        )
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const askpass = join(dir, 'askpass.sh');
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${PASSPHRASE}'\n`, { mode: 0o700 });
    await run('ssh-add', [encrypted], {
      env: {
        ...process.env,
        SSH_AUTH_SOCK: sock,
        SSH_ASKPASS: askpass,
        SSH_ASKPASS_REQUIRE: 'force',
        DISPLAY: ':0',
      },
    });
    process.env['SSH_AUTH_SOCK'] = sock;
    try {
      const postponed = await keyQueries(sshd);
      assert.equal(await exec(), 'in\n');
      // A key in an agent is asked about before it signs (sign-first.ts signs only our own keys).
      assert.equal(await keyQueries(sshd), postponed + 1);
      // The agent stands in only for the key named: another encrypted key still needs its passphrase.
      const other = join(dir, 'id_other');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'other', '-f', other]);
      await assert.rejects(exec({ identity: other }), {
        code: 'AUTH_FAILED',
        message: /id_other is encrypted/,
      });
    } finally {
      delete process.env['SSH_AUTH_SOCK'];
    }
  });

  it('asks for the passphrase on a terminal, without echo, and connects', async () => {
    const args = [
      BIN,
      '--host',
      `${sshd.user}@${sshd.host}:${sshd.port}`,
      '--identity',
      encrypted,
      '--known-hosts',
      sshd.knownHostsFile,
      '--ssh-config',
      '/dev/null',
      'operation.get',
      'op_nothing',
      '--json',
    ];
    const command = [process.execPath, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
    const env = { ...process.env };
    delete env['SSH_AUTH_SOCK'];
    delete env['CLOUDIQ_SSH_PASSPHRASE'];
    // `script` gives the CLI a real pty for stdin and stderr; what the pty shows comes back here.
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const prompted = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        screen += chunk.toString('utf8');
        if (screen.includes('Enter passphrase for key')) resolve();
      });
    });
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    await Promise.race([prompted, exited]);
    assert.match(screen, new RegExp(`Enter passphrase for key '${encrypted}'`));
    child.stdin.write(`${PASSPHRASE}\r`);
    const code = await exited;
    child.stdin.end();
    // The program ran on the host, which answered that it has no such operation: the key worked.
    assert.match(screen, /no operation op_nothing/, screen);
    assert.ok(!screen.includes(PASSPHRASE), 'the passphrase was echoed');
    assert.equal(code, 2, screen);
  });
});

describe('an unknown host: its fingerprint and how to trust it', () => {
  let sshd: SshdHost;
  let dir: string;
  before(async () => {
    sshd = await startSshd();
    dir = await mkdtemp(join(tmpdir(), 'ssh-unknown-'));
  });
  after(async () => {
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('says HOST_KEY_MISMATCH "unknown" with the SHA256 fingerprint, --accept-new-host-key and ssh-keyscan', async () => {
    const empty = join(dir, 'known_hosts');
    await writeFile(empty, '');
    const result = await runCli([
      '--host',
      `${sshd.user}@${sshd.host}:${sshd.port}`,
      '--identity',
      sshd.identityFile,
      '--known-hosts',
      empty,
      '--ssh-config',
      '/dev/null',
      'heartbeat.get',
    ]);
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /HOST_KEY_MISMATCH/);
    assert.ok(result.stderr.includes(sshd.hostKeyFingerprint), result.stderr);
    assert.ok(result.stderr.includes('--accept-new-host-key'), result.stderr);
    assert.ok(
      result.stderr.includes(`ssh-keyscan -p ${sshd.port} -t ed25519 127.0.0.1 >> ${empty}`),
      result.stderr,
    );
    assert.equal(await sshd.acceptedLogins(), 0);
  });
});

describe('a private key that others can read', () => {
  let sshd: SshdHost;
  let dir: string;
  let open: string;
  let good: string;

  before(async () => {
    sshd = await startSshd();
    dir = await mkdtemp(join(tmpdir(), 'ssh-keys-open-'));
    open = join(dir, 'id_open');
    good = join(dir, 'id_good');
    await copyFile(sshd.identityFile, open);
    await copyFile(sshd.identityFile, good);
    await chmod(open, 0o644);
    await chmod(good, 0o600);
  });
  after(async () => {
    await sshd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const exec = async (keys: Partial<SshEndpoint>) => {
    const ssh = createSshTransport({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      knownHosts: sshd.knownHostsFile,
      sshConfig: false,
      agent: false,
      ...keys,
    });
    try {
      return (await ssh.exec({ program: 'echo in' })).stdout;
    } finally {
      await ssh.close();
    }
  };
  const tooOpen = (path: string) => new RegExp(`${path}: permissions 644 are too open.*chmod 600`);

  it('is never used, as ssh decides: named alone it is AUTH_FAILED saying why, and nothing is offered', async () => {
    await assert.rejects(exec({ identity: open }), (error: unknown) => {
      assert.ok(error instanceof BootstrapError);
      assert.equal(error.code, 'AUTH_FAILED');
      assert.match(error.message, tooOpen(open));
      return true;
    });
    assert.equal(await sshd.acceptedLogins(), 0);
    assert.equal(await exec({ identity: good }), 'in\n');
  });

  it('among the config’s IdentityFiles it is passed over for the next, and named when none is left', async () => {
    const config = async (...files: string[]) => {
      const path = join(dir, `config-${files.length}`);
      await writeFile(path, ['Host *', ...files.map((file) => `  IdentityFile ${file}`), ''].join('\n'));
      return { sshConfig: path };
    };
    assert.equal(await exec(await config(open, good)), 'in\n');
    await assert.rejects(exec(await config(open)), (error: unknown) => {
      assert.ok(error instanceof BootstrapError);
      assert.equal(error.code, 'AUTH_FAILED');
      assert.match(error.message, /no client key: .*; passed over: /);
      assert.match(error.message, tooOpen(open));
      return true;
    });
  });
});
