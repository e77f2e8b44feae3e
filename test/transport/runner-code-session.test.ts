// A long operation over SSH in a host session (lib/transport/ssh/session.ts) that loaded the host
// code from lib/ when it started, against a real sshd. The session holds the code but not its
// text, so the runner's code is copied from lib/ again; when lib/ was deleted since (SPEC 2.2:
// deleting it is always safe), the frame answers `@hostcode absent` having run nothing, and the
// self-contained program follows, in the same session, bringing the code's text with it: the
// operation runs once, and lib/ is repaired.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ABSENT_RECORD } from '../../lib/host/kept-code.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { SshPool } from '../../lib/transport/ssh/index.ts';
import { assertRanOnce, warmCache } from '../host/runner-setup.ts';
import { assertCacheSound, libDir, recording } from '../support/host-code.ts';
import { createSandbox, ownedBy, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

const isLong = (program: string) => program.includes('B_RUN_DIR=');

describe('a long operation in a host session whose lib/ was deleted after the session loaded it', () => {
  let sshd: SshdHost;
  let user: string;
  let owner: { uid: number; gid: number };
  const pools: SshPool[] = [];
  const sandboxes: Sandbox[] = [];

  before(async () => {
    user = await ensureTestUser();
    sshd = await startSshd();
    const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }));
    owner = { uid: id('-u'), gid: id('-g') };
  });
  after(async () => {
    for (const pool of pools) await pool.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
    await sshd.stop();
  });

  it('answers @hostcode absent, then runs once whole in the same session, and repairs lib/', async () => {
    const sandbox = createSandbox(ownedBy(user));
    sandboxes.push(sandbox);
    const connect = () => {
      const pool = new SshPool();
      pools.push(pool);
      return { pool, transport: recording(sshTransportTo(sshd, { pool })) };
    };
    // The cache installed, by the login user.
    const warm = connect();
    await warmCache(sandbox, sandbox.host(warm.transport), owner.uid, 'haproxy', { maxconn: '3' });

    // A new connection: its first program goes by exec, the second starts the session, which
    // loads the code from lib/ (the host was seen with a usable cache).
    const { pool, transport } = connect();
    const host = sandbox.host(transport);
    for (let i = 0; i < 2; i += 1) await runCommand(host, { command: 'product.get', product: 'haproxy' });
    assert.equal(pool.stats().sessionsStarted, 1);

    rmSync(libDir(sandbox.stateDir), { recursive: true });
    sandbox.behave('haproxy', 'upgrade', { output: 'haproxy upgraded once' });
    const journal = (await runCommand(host, {
      command: 'product.upgrade',
      product: 'haproxy',
      version: '2.9',
      operationId: 'op_01HZX3M5Q7R8S9T0V1W2X3Y4ZB',
    })) as { id: string; status: string; steps: unknown[] };

    const longs = transport.exchanges.filter((e) => isLong(e.program));
    assert.equal(longs.length, 2, 'from the cache, then whole');
    assert.ok(!longs[0]!.program.includes('B_HOSTCODE=') && longs[1]!.program.includes('B_HOSTCODE='));
    assert.deepEqual(
      { stdout: longs[0]!.result.stdout, exitCode: longs[0]!.result.exitCode },
      { stdout: `${ABSENT_RECORD}\n`, exitCode: 0 },
    );
    assert.deepEqual(
      { sessions: pool.stats().sessionsStarted, connections: pool.stats().connectionsOpened },
      { sessions: 1, connections: 1 },
      'both ran in the one session',
    );
    assertRanOnce(sandbox, journal, 'haproxy upgraded once');
    assertCacheSound(sandbox.stateDir, owner.uid);
  });
});
