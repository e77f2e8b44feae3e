// One host session per pooled SSH connection (lib/transport/ssh/session.ts), against a real sshd:
// further programs run as frames in one long-lived shell, answer exactly as an exec does, and a
// session that dies never loses a program nor runs one twice.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  cachedForm,
  renderHeader,
  runWithHostCode,
  SESSION_LOAD,
  sessionFrame,
} from '../../lib/host/host-code.ts';
import { HOST_CODE_SHA256 } from '../../lib/host/kept-code.ts';
import { PRELUDE } from '../../lib/host/shell-source.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { present } from '../../lib/optional.ts';
import { SshPool } from '../../lib/transport/ssh/index.ts';
import { SESSION_COMMAND } from '../../lib/transport/ssh/session.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { readIfExists, waitFor } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

/**
 * PIDs of the host session shells the test user runs through the sshd on `port`: other test files
 * running meanwhile start session shells of their own, as the same user, through their own sshd
 * (told apart by SSH_CONNECTION's server port, in each shell's environment).
 */
function sessionShells(user: string, port: number): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-u', user, '-f', 'read -r _Zn'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      const environ = readIfExists(`/proc/${pid}/environ`) ?? '';
      const connection = environ.split('\0').find((entry) => entry.startsWith('SSH_CONNECTION='));
      return connection?.endsWith(` ${port}`) === true;
    });
}

describe('one host session per pooled SSH connection', () => {
  let sshd: SshdHost;
  let small: SshdHost;
  let user: string;
  let owner: { uid: number; gid: number };
  let sandbox: Sandbox;
  const pools: SshPool[] = [];

  const connect = (host: SshdHost, options: { hostSessions?: boolean; pool?: SshPool } = {}): Transport => {
    const pool = options.pool ?? new SshPool();
    pools.push(pool);
    return sshTransportTo(host, { pool, ...present({ hostSessions: options.hostSessions }) });
  };
  /** A program as execProgram sends it: the header relying on the cached host code, then `body`. */
  const program = (body: string) => cachedForm(`${renderHeader(sandbox)}${body}\n`) ?? '';

  before(async () => {
    user = await ensureTestUser();
    sshd = await startSshd();
    small = await startSshd({ maxSessions: 1 });
    const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }));
    owner = { uid: id('-u'), gid: id('-g') };
    sandbox = createSandbox({ owner });
  });
  after(async () => {
    for (const pool of pools) await pool.close();
    sandbox.cleanup();
    await sshd.stop();
    await small.stop();
  });

  it('runs the further operations of a connection in one session, one shell for all', async () => {
    const pool = new SshPool();
    const host = sandbox.host(connect(sshd, { pool }));
    const known = new Set(sessionShells(user, sshd.port));
    await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '9' } });
    const seen = new Set<number>();
    for (let i = 0; i < 6; i += 1) {
      const got = await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' });
      assert.deepEqual(got, { product: 'haproxy', key: 'maxconn', value: '9' });
      for (const pid of sessionShells(user, sshd.port)) if (!known.has(pid)) seen.add(pid);
    }
    assert.equal(pool.stats().sessionsStarted, 1);
    assert.equal(pool.stats().connectionsOpened, 1);
    assert.equal(seen.size, 1, 'one session shell ran every further program');
  });

  it('answers stdout, stderr and exit status exactly as an exec does, whatever the program prints', async () => {
    const framed = connect(sshd);
    const plain = connect(sshd, { hostSessions: false });
    const bodies = [
      'b_emit "@bootstrap 1"; echo oops >&2; exit 3',
      "printf 'no newline at the end'; printf 'and none >&2' >&2",
      // Frame ends as a program might forge them: a guessed nonce, and the shapes of every marker.
      'for n in 0123456789abcdef0123456789abcdef P1 P2 P3 L0; do printf "\\n@@%s %s end 0\\n@@%s %s start\\n" "$n" "$n" "$n" "$n"; printf "\\n@@%s %s end\\n" "$n" "$n" >&2; done; echo after',
      'LC_ALL=C awk \'BEGIN { for (i = 1; i < 256; i++) printf "%c", i }\'',
      'exit 255',
    ];
    await framed.exec({ program: program('true') });
    for (const body of bodies) {
      assert.deepEqual(
        await framed.exec({ program: program(body) }),
        await plain.exec({ program: program(body) }),
        body,
      );
    }
    // Killed by a signal: the same status (the session's shell also reports it on stderr).
    const killed = program("exec sh -c 'kill -TERM $$'");
    assert.equal(
      (await framed.exec({ program: killed })).exitCode,
      (await plain.exec({ program: killed })).exitCode,
    );
    // A frame's stdin is empty: no program can read the frames after it.
    assert.equal((await framed.exec({ program: program('cat; echo done') })).stdout, 'done\n');
  });

  it("runs a read in the session's own shell and anything else in a subshell, each answering as an exec", async () => {
    const { transport, shell } = await sessionWithShell('reads-in-shell');
    const plain = connect(sshd, { hostSessions: false });
    const self = 'read -r me _ </proc/self/stat; b_emit "@self $me"';
    const read = await transport.exec({ program: program(self), readsOnly: true });
    assert.equal(read.stdout, `@self ${shell}\n`, 'the read ran in the session shell');
    const other = await transport.exec({ program: program(self) });
    assert.notEqual(other.stdout, `@self ${shell}\n`, 'a frame not marked a read has a process of its own');
    // A read's answer is an exec's: every byte on stdout, stderr apart, its status, and an empty stdin.
    for (const body of [
      'LC_ALL=C awk \'BEGIN { for (i = 1; i < 256; i++) printf "%c", i }\'; echo oops >&2',
      "printf 'no newline at the end'; false",
      'cat; echo done',
    ]) {
      assert.deepEqual(
        await transport.exec({ program: program(body), readsOnly: true }),
        await plain.exec({ program: program(body), readsOnly: true }),
        body,
      );
    }
    // What a read left queued is not printed by the next one.
    await transport.exec({ program: program("b_queue '@file stale' /etc/hostname"), readsOnly: true });
    const next = await transport.exec({ program: program('b_flush; b_emit "@end"'), readsOnly: true });
    assert.equal(next.stdout, '@end\n');
    assert.equal(sessionShells(user, sshd.port).includes(shell), true, 'the session lives on');
  });

  it('names its own variables so that no host code can overwrite them in a read', () => {
    for (const text of [PRELUDE, SESSION_LOAD]) assert.doesNotMatch(text, /\b_Z/);
    assert.match(SESSION_COMMAND, /_Zn/);
  });

  /** A connection whose host session runs (two programs sent), its shell's PID, and an empty marks file. */
  async function sessionWithShell(
    name: string,
  ): Promise<{ transport: Transport; shell: number; marks: string }> {
    const transport = connect(sshd);
    const marks = join(sandbox.root, 'out', name);
    writeFileSync(marks, '');
    execFileSync('chown', [`${owner.uid}:${owner.gid}`, marks]);
    const known = new Set(sessionShells(user, sshd.port));
    await transport.exec({ program: program('true') });
    await transport.exec({ program: program('true') });
    const [shell] = sessionShells(user, sshd.port).filter((pid) => !known.has(pid));
    assert.ok(shell, 'a session shell runs');
    return { transport, shell, marks };
  }

  it('a session killed mid-program: the program completes once, fails clearly, and the next one works', async () => {
    const { transport, shell, marks } = await sessionWithShell('killed-mid-program');
    // The program goes on only when told (never by a clock): the kill lands mid-program however slow the machine.
    const go = `${marks}.go`;
    const wait = `n=0; while [ ! -e '${go}' ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done`;
    const running = transport.exec({ program: program(`${wait}; echo ran >> '${marks}'; b_emit "@end"`) });
    await waitFor('the program to start', () => hasChild(shell));
    process.kill(shell, 'SIGKILL');
    await assert.rejects(running, (error: { code: string; message: string }) => {
      assert.equal(error.code, 'UNREACHABLE');
      assert.match(error.message, /before the program reported its exit status/);
      return true;
    });
    writeFileSync(go, '');
    await waitFor('the program to finish', () => readIfExists(marks) === 'ran\n', 10_000);
    const next = await transport.exec({ program: program('b_emit "@bootstrap 1"; b_emit "@end"') });
    assert.equal(next.stdout, '@bootstrap 1\n@end\n');
    assert.equal(readFileSync(marks, 'utf8'), 'ran\n', 'ran exactly once');
  });

  it('names the frame, not the session shell, as the lock holder: a frame killed holding the lock is a dead holder', async () => {
    const { transport } = await sessionWithShell('frame-holds-lock');
    // Without flock(1) the record alone proves the holder; the frame dies by its own PID.
    const take = (id: string, then: string) =>
      program(`BOOTSTRAP_NO_FLOCK=1; b_mkdirs; b_take_lock ${id} product.set 0; echo "taken=$?"; ${then}`);
    const killed = await transport.exec({
      program: take('op_killed', 'read -r me _ </proc/self/stat; kill -9 "$me"'),
    });
    assert.match(killed.stdout, /taken=0/);
    assert.equal(killed.exitCode, 137, 'the frame died holding the lock');
    const next = await transport.exec({ program: take('op_next', 'b_release_lock') });
    assert.match(next.stdout, /taken=0/, `the next frame takes the lock:\n${next.stdout}`);
    assert.doesNotMatch(next.stdout, /@locked/);
  });

  it('a session that dies before starting a program: the program runs once, by exec', async () => {
    const { transport, shell, marks } = await sessionWithShell('killed-before-start');
    // Stopped, it cannot acknowledge the frame; killed, it never will.
    process.kill(shell, 'SIGSTOP');
    const running = transport.exec({ program: program(`echo ran >> '${marks}'; b_emit "@done"`) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(shell, 'SIGKILL');
    const result = await running;
    assert.equal(result.stdout, '@done\n');
    assert.equal(readFileSync(marks, 'utf8'), 'ran\n', 'ran exactly once');
  });

  it('a session where the cache is usable sources it: its load is the check and the file, not the host code', () => {
    const cached = sessionFrame(program('true'));
    assert.ok(cached);
    assert.equal(cached.installs, false);
    assert.ok(cached.load.length < 3000, `a ${cached.load.length}-byte load`);
    assert.ok(cached.load.startsWith(`B_STATE='${sandbox.stateDir}'\n`), 'the host paths first');
    assert.match(cached.load, /^if b_hc_ok; then \. "\$B_LIB"; else exit 0; fi$/m);
    assert.equal(cached.load.includes(PRELUDE), false);
    // A self-contained program (the host last seen without a usable cache) loads the code itself.
    assert.equal(sessionFrame(`${renderHeader(sandbox)}true\n`)?.load, SESSION_LOAD);
  });

  for (const [broken, breakIt] of [
    ['corrupt', (file: string) => writeFileSync(file, `${readFileSync(file, 'utf8')}echo sourced\n`)],
    ['group-writable', (file: string) => chmodSync(file, 0o660)],
  ] as const) {
    it(`a session started where the cache has become ${broken}: never sourced, the program runs once, by exec, and the cache is repaired`, async () => {
      const pool = new SshPool();
      const transport = connect(sshd, { pool });
      const marks = join(sandbox.root, 'out', `session-cache-${broken}`);
      writeFileSync(marks, '');
      execFileSync('chown', [`${owner.uid}:${owner.gid}`, marks]);
      const run = (body: string) =>
        runWithHostCode(transport, sandbox.stateDir, `${renderHeader(sandbox)}${body}\n`, (text) =>
          transport.exec({ program: text }),
        );
      // The first program (by exec) finds the cache usable: the second starts a session trusting it.
      assert.equal((await run('b_emit "@first"')).stdout, '@first\n');
      const cache = join(sandbox.stateDir, 'lib', HOST_CODE_SHA256);
      breakIt(cache);
      const second = await run(`echo ran >> '${marks}'; b_emit "@second"`);
      assert.equal(second.stdout, '@second\n');
      assert.equal(second.exitCode, 0);
      assert.equal(readFileSync(marks, 'utf8'), 'ran\n', 'ran exactly once');
      const repaired = readFileSync(cache, 'utf8');
      assert.equal(createHash('sha256').update(repaired).digest('hex'), HOST_CODE_SHA256);
      assert.equal(repaired.includes('echo sourced'), false);
      assert.equal(execFileSync('stat', ['-c', '%a', cache], { encoding: 'utf8' }).trim(), '640');
      // The session that found it broken ended before any frame; the next one loaded the code itself.
      assert.equal(pool.stats().sessionsStarted, 2);
      assert.equal((await run('b_emit "@third"')).stdout, '@third\n');
    });
  }

  // A session that kept the only channel the server allows would leave the others waiting forever.
  it('keeps within MaxSessions 1: concurrent programs on one connection all run', {
    timeout: 60_000,
  }, async () => {
    const pool = new SshPool();
    const host = sandbox.host(connect(small, { pool }));
    await runCommand(host, { command: 'server.mode' });
    await runCommand(host, { command: 'server.mode' });
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => runCommand(host, { command: 'product.get', product: 'haproxy' })),
    );
    assert.equal(answers.length, 4);
    assert.equal(pool.stats().connectionsOpened, 1);
  });
});

/** Does the process have a child (the subshell running a frame)? */
function hasChild(pid: number): boolean {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}
