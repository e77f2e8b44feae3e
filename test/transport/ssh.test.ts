import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSshTransport, SshPool, type SshTransportOptions } from '../../lib/transport/ssh/index.ts';
import { waitFor } from '../support/host-files.ts';
import type { SshdHost } from '../support/sshd.ts';
import { generateClientKey, sshTransportTo, startSshd } from '../support/sshd.ts';

function transportTo(host: SshdHost, extra: Partial<SshTransportOptions> = {}) {
  return sshTransportTo(host, { target: 'web-1', ...extra });
}

async function rejection(promise: Promise<unknown>): Promise<BootstrapError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BootstrapError, `not a BootstrapError: ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

describe('ssh transport against a real sshd', () => {
  let sshd: SshdHost;
  before(async () => {
    sshd = await startSshd({ maxSessions: 4 });
  });
  after(async () => {
    await sshd.stop();
  });

  it('returns stdout, stderr and exit codes exactly as the local transport does', async () => {
    const ssh = transportTo(sshd);
    const local = createLocalTransport();
    const programs = [
      'echo hello; echo oops >&2; exit 3',
      // every byte value but NUL, then invalid UTF-8 and multi-byte characters across lines
      // LC_ALL=C: gawk in a UTF-8 locale prints %c of 128..255 as characters, not bytes.
      "LC_ALL=C awk 'BEGIN { for (i = 1; i < 256; i++) printf \"%c\", i }'; printf '\\377\\376 caf\\303\\251 \\342\\202\\254\\n'",
      "printf 'a\\000b\\n'; printf 'no newline at the end'",
      'kill -9 $$',
      'exit 255',
    ];
    try {
      for (const program of programs) {
        assert.deepEqual(await ssh.exec({ program }), await local.exec({ program }), program);
      }
    } finally {
      await ssh.close();
      await local.close();
    }
  });

  it('reports a program killed by a signal as 128 + the signal number', async () => {
    const ssh = transportTo(sshd);
    try {
      assert.equal((await ssh.exec({ program: 'kill -TERM $$' })).exitCode, 143);
    } finally {
      await ssh.close();
    }
  });

  it('collects 1 MB of output whole, and feeds a large program on stdin', async () => {
    const ssh = transportTo(sshd);
    try {
      const big = await ssh.exec({
        program: 'awk \'BEGIN { for (i = 0; i < 16384; i++) printf "%063d\\n", i }\'',
      });
      assert.equal(big.exitCode, 0);
      assert.equal(big.stdout.length, 1024 * 1024);
      const lines = big.stdout.split('\n');
      assert.equal(lines[16383], String(16383).padStart(63, '0'));
      const payload = 'y'.repeat(512 * 1024);
      const echoed = await ssh.exec({ program: `cat <<'EOF' | wc -c\n${payload}\nEOF\n` });
      assert.equal(echoed.stdout.trim(), String(payload.length + 1));
    } finally {
      await ssh.close();
    }
  });

  it('runs 30 concurrent programs over ONE connection on a host with MaxSessions 4', async () => {
    const pool = new SshPool();
    const ssh = transportTo(sshd, { pool });
    const loginsBefore = await sshd.acceptedLogins();
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => ssh.exec({ program: `sleep 0.05; echo ${i}` })),
      );
      assert.deepEqual(
        results.map((result) => result.stdout),
        Array.from({ length: 30 }, (_, i) => `${i}\n`),
      );
      assert.ok(results.every((result) => result.exitCode === 0));
      assert.equal(pool.stats().connectionsOpened, 1);
      assert.equal((await sshd.acceptedLogins()) - loginsBefore, 1);
      // The pool starts at 8 channels: sshd refused some, and those waited instead of failing.
      assert.ok(pool.stats().channelRetries > 0);
    } finally {
      await ssh.close();
      await pool.close();
    }
  });

  it('shares one connection between transports of one pool; a further exec is cheap', async () => {
    const pool = new SshPool();
    const first = transportTo(sshd, { pool });
    const second = transportTo(sshd, { pool });
    try {
      await first.exec({ program: 'true' });
      const times: number[] = [];
      for (let i = 0; i < 40; i += 1) {
        const started = performance.now();
        const result = await (i % 2 ? first : second).exec({ program: 'echo ok' });
        times.push(performance.now() - started);
        assert.equal(result.stdout, 'ok\n');
      }
      times.sort((a, b) => a - b);
      console.log(`# exec on an open connection: median ${times[20]!.toFixed(2)} ms over 40`);
      assert.equal(pool.stats().connectionsOpened, 1);
    } finally {
      await pool.close();
    }
  });

  it('gives up on a slow program with TRANSPORT_TIMEOUT, and the connection stays usable', async () => {
    const pool = new SshPool();
    const ssh = transportTo(sshd, { pool });
    try {
      const error = await rejection(ssh.exec({ program: 'sleep 5', timeoutMs: 300 }));
      assert.equal(error.code, 'TRANSPORT_TIMEOUT');
      assert.equal(error.details['server'], 'web-1');
      const controller = new AbortController();
      const aborted = ssh.exec({ program: 'sleep 5', signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      assert.equal((await rejection(aborted)).code, 'TRANSPORT_TIMEOUT');
      assert.equal((await ssh.exec({ program: 'echo still' })).stdout, 'still\n');
      assert.equal(pool.stats().connectionsOpened, 1);
    } finally {
      await pool.close();
    }
  });

  it('closes idle connections and opens a new one when needed', async () => {
    const pool = new SshPool({ idleTimeoutMs: 100 });
    const ssh = transportTo(sshd, { pool });
    try {
      await ssh.exec({ program: 'true' });
      assert.equal(pool.stats().open, 1);
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.equal(pool.stats().open, 0);
      assert.equal((await ssh.exec({ program: 'echo again' })).stdout, 'again\n');
      assert.equal(pool.stats().connectionsOpened, 2);
    } finally {
      await pool.close();
    }
  });

  it('closes a released connection as soon as nothing runs on it, and stays usable', async () => {
    const pool = new SshPool({ idleTimeoutMs: 60_000 });
    const ssh = transportTo(sshd, { pool });
    const other = transportTo(sshd, { pool, target: 'web-1-again' });
    try {
      await ssh.exec({ program: 'true' });
      assert.equal(pool.stats().open, 1);
      // Released while another user of the same connection still runs: it waits for that one.
      const running = other.exec({ program: 'sleep 0.3; echo late' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      ssh.release?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(pool.stats().open, 1, 'closed under a running program');
      assert.equal((await running).stdout, 'late\n');
      await waitFor('the released connection to close', () => pool.stats().open === 0, 2000);
      assert.equal((await ssh.exec({ program: 'echo again' })).stdout, 'again\n');
      assert.equal(pool.stats().connectionsOpened, 2);
      // A connection nobody released keeps the pool's idle timeout.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(pool.stats().open, 1);
    } finally {
      await pool.close();
    }
  });

  it('refuses a key the host does not authorize with AUTH_FAILED, naming host and port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ssh-key-'));
    const ssh = transportTo(sshd, { identity: (await generateClientKey(dir)).identityFile });
    try {
      const error = await rejection(ssh.exec({ program: 'touch /tmp/never' }));
      assert.equal(error.code, 'AUTH_FAILED');
      assert.equal(error.details['host'], '127.0.0.1');
      assert.equal(error.details['port'], sshd.port);
      assert.equal(error.details['server'], 'web-1');
    } finally {
      await ssh.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('authenticates with a private key given as text', async () => {
    const ssh = createSshTransport({
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: await readFile(sshd.identityFile, 'utf8'),
      hostKey: sshd.hostKeyFingerprint,
    });
    try {
      assert.equal((await ssh.exec({ program: 'id -un' })).stdout, `${sshd.user}\n`);
    } finally {
      await ssh.close();
    }
  });

  it('lets a script end as soon as its work is done, whether it closes the transport or not', async () => {
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const index = fileURLToPath(new URL('../../lib/transport/ssh/index.ts', import.meta.url));
    const script = (close: boolean) => `
      import { createSshTransport } from ${JSON.stringify(index)};
      const ssh = createSshTransport(${JSON.stringify({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        identity: sshd.identityFile,
        knownHosts: sshd.knownHostsFile,
        idleTimeoutMs: 60_000,
      })});
      process.stdout.write((await ssh.exec({ program: 'echo done' })).stdout);
      ${close ? 'await ssh.close();' : ''}`;
    for (const close of [true, false]) {
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script(close)],
          { timeout: 20_000 },
          (_error, out) => resolve({ code: child.exitCode, stdout: out }),
        );
      });
      // An unsettled close would exit 13; a pooled connection holding the loop would run into the timeout.
      assert.deepEqual({ code, stdout }, { code: 0, stdout: 'done\n' }, `close: ${close}`);
    }
  });

  it('lets a script end once it released its connection, without waiting for the server to answer', async () => {
    const { execFile } = await import('node:child_process');
    const { createHash } = await import('node:crypto');
    const { connect, createServer } = await import('node:net');
    const { fileURLToPath } = await import('node:url');
    // A relay in front of sshd that can be frozen: the disconnect never reaches sshd, and no
    // answer (nor the end of the connection) ever comes back.
    let frozen = false;
    const sockets: Array<{ destroy(): void }> = [];
    const relay = createServer({ allowHalfOpen: true }, (client) => {
      const server = connect({ host: sshd.host, port: sshd.port, allowHalfOpen: true });
      sockets.push(client, server);
      const forward = (from: typeof client, to: typeof client) => {
        from.on('data', (chunk) => {
          if (!frozen) to.write(chunk);
        });
        from.on('end', () => {
          if (!frozen) to.end();
        });
        from.on('error', () => to.destroy());
      };
      forward(client, server);
      forward(server, client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as { port: number }).port;
    const blob = Buffer.from(sshd.hostPublicKeys[0]!.split(' ')[1]!, 'base64');
    const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    const index = fileURLToPath(new URL('../../lib/transport/ssh/index.ts', import.meta.url));
    // After the release and the close it starts, a timer that does not hold the process prints
    // what still does: a connection waiting for the server's answer would.
    const script = `
      import { createSshTransport } from ${JSON.stringify(index)};
      const ssh = createSshTransport(${JSON.stringify({
        host: '127.0.0.1',
        port,
        user: sshd.user,
        identity: sshd.identityFile,
        hostKey: fingerprint,
        idleTimeoutMs: 60_000,
      })});
      process.stdout.write((await ssh.exec({ program: 'echo done' })).stdout);
      await new Promise((resolve) => process.stdin.once('data', resolve));
      process.stdin.destroy();
      ssh.release();
      // The rest of a run goes on meanwhile: the connection's close starts.
      await new Promise((resolve) => setTimeout(resolve, 50));
      setTimeout(() => process.stdout.write('held by ' + process.getActiveResourcesInfo().join(',')), 300).unref();`;
    try {
      const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', script],
          { timeout: 20_000 },
          (_error, out) => resolve({ code: child.exitCode, stdout: out }),
        );
        child.stdout?.once('data', () => {
          frozen = true;
          child.stdin?.write('go\n');
        });
      });
      assert.deepEqual({ code, stdout }, { code: 0, stdout: 'done\n' });
    } finally {
      for (const socket of sockets) socket.destroy();
      relay.close();
    }
  });

  it('refuses exec after close', async () => {
    const ssh = transportTo(sshd);
    await ssh.close();
    await assert.rejects(ssh.exec({ program: 'true' }), BootstrapError);
  });
});

describe('ssh transport: connection failures', () => {
  it('reports a closed port as UNREACHABLE, naming host and port', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    await new Promise((resolve) => server.close(resolve));
    const dir = await mkdtemp(join(tmpdir(), 'ssh-key-'));
    const ssh = createSshTransport({
      host: '127.0.0.1',
      port,
      identity: (await generateClientKey(dir)).identityFile,
      hostKey: `SHA256:${'A'.repeat(43)}`,
    });
    try {
      const error = await rejection(ssh.exec({ program: 'true' }));
      assert.equal(error.code, 'UNREACHABLE');
      assert.equal(error.details['reason'], 'ECONNREFUSED');
      assert.equal(error.details['port'], port);
      assert.equal(error.details['server'], '127.0.0.1');
    } finally {
      await ssh.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('closes at once while a host that accepted TCP has not answered (no wait for the connect timeout)', async () => {
    const { createServer } = await import('node:net');
    const held: Array<{ destroy(): void }> = [];
    // Accepts and never says a word: no SSH banner ever comes.
    const server = createServer((socket) => held.push(socket));
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    const dir = await mkdtemp(join(tmpdir(), 'ssh-key-'));
    const ssh = createSshTransport({
      host: '127.0.0.1',
      port,
      identity: (await generateClientKey(dir)).identityFile,
      hostKey: `SHA256:${'A'.repeat(43)}`,
      connectTimeoutMs: 120_000,
    });
    try {
      const error = await rejection(ssh.exec({ program: 'true', timeoutMs: 200 }));
      assert.equal(error.code, 'TRANSPORT_TIMEOUT');
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise((resolve) => {
        timer = setTimeout(resolve, 20_000, 'still waiting');
      });
      const outcome = await Promise.race([ssh.close().then(() => 'closed'), waited]);
      clearTimeout(timer);
      assert.equal(outcome, 'closed', 'close waited for the connect timeout');
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up with UNREACHABLE on a host that allows no session at all (MaxSessions 0)', async () => {
    const sshd = await startSshd({ maxSessions: 0 });
    const ssh = transportTo(sshd);
    try {
      const error = await rejection(ssh.exec({ program: 'true' }));
      assert.equal(error.code, 'UNREACHABLE');
      assert.match(error.message, /Channel open failure/);
    } finally {
      await ssh.close();
      await sshd.stop();
    }
  });

  it('retries connections a busy sshd resets before authentication (MaxStartups)', async () => {
    const sshd = await startSshd({ maxStartups: '1:100:1' });
    const pools = Array.from({ length: 8 }, () => new SshPool());
    try {
      const results = await Promise.all(
        pools.map((pool, i) => transportTo(sshd, { pool }).exec({ program: `echo ${i}` })),
      );
      assert.deepEqual(
        results.map((result) => result.stdout),
        pools.map((_, i) => `${i}\n`),
      );
      // The path under test was taken: sshd did drop connections.
      assert.match(await readFile(sshd.logFile, 'utf8'), /past MaxStartups/);
    } finally {
      await Promise.all(pools.map((pool) => pool.close()));
      await sshd.stop();
    }
  });
});
