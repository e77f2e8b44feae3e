// What sshd runs (lib/transport/ssh/index.ts `remoteCommand`), under each shell the host program
// knows, started as sshd starts it: by the user's login shell with `-c`, the program on stdin.
// sshd hands stdin over as a pipe (OpenSSH and dropbear on Linux); Node's own child stdio is a
// socket, which cannot be opened by name, so it shows the fallback. Either way the program
// answers as a script read from stdin would: its output, `exit N`, and its last command's status.
// tcsh and fish stand for the login shells that are not sh: both commands are written for them too.
// `$SHELL` is the login shell, as sshd sets it: where that is the shell asked for and stdin a pipe,
// the login shell sources the program itself rather than exec a second one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { REMOTE_COMMAND, remoteCommand } from '../../lib/transport/ssh/index.ts';
import { SESSION_COMMAND } from '../../lib/transport/ssh/session.ts';
import { createBusyboxDir, sevenShells } from '../support/host-files.ts';

const busybox = createBusyboxDir();
const SHELLS = sevenShells(busybox);

interface Ran {
  stdout: string;
  stderr: string;
  status: number | null;
}

/**
 * Runs `command` as sshd does, `LOGIN -c COMMAND` with `$SHELL` naming LOGIN (the login shell dash
 * unless said), with `program` on stdin: through `cat`, so a pipe, or straight from Node, so a socket.
 */
function run(
  command: string,
  program: string,
  stdin: 'pipe' | 'socket',
  login = '/usr/bin/dash',
): Promise<Ran> {
  const [file, args] =
    stdin === 'pipe'
      ? ['/usr/bin/dash', ['-c', '/bin/cat | "$0" -c "$1"', login, command]]
      : [login, ['-c', command]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, SHELL: login },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ stdout, stderr, status }));
    child.stdin.end(program);
  });
}

/** Which shell runs the program, from /proc: the name of the executable behind `$$`. */
const WHO = 'echo "ran by $(basename "$(readlink /proc/$$/exe)")"\n';
/**
 * How that process was started: the login shell's `-c` (direct), the second shell's `-c`
 * sourcing stdin (second), or a shell reading its commands from stdin (commands).
 */
const HOW =
  'case "$(tr "\\0" " " < /proc/$$/cmdline)" in *"-c test "*) echo direct ;; *"-c if "*) echo second ;; *" -c "*) echo unknown ;; *) echo commands ;; esac\n';

describe('the remote command under seven shells', () => {
  after(() => busybox.cleanup());

  it('is one line, single-quoted, with no `!` (csh and fish login shells read it as sh does)', () => {
    assert.equal(
      REMOTE_COMMAND,
      'test "$SHELL" = /bin/sh -a -p /dev/stdin -a -r /dev/stdin || ' +
        "exec /bin/sh -c 'if { true </dev/stdin; } 2>/dev/null; then . /dev/stdin; else exec /bin/sh; fi'; " +
        '. /dev/stdin',
    );
    assert.doesNotMatch(REMOTE_COMMAND, /[\n!]/);
    assert.throws(() => remoteCommand("/bin/s'h"), /not a plain absolute path/);
  });

  it('a /bin/sh login shell sources a piped program itself; a socket goes to a second shell as commands', async () => {
    const program = `${WHO}${HOW}echo one\nexit 4\n`;
    assert.deepEqual(await run(REMOTE_COMMAND, program, 'pipe', '/bin/sh'), {
      stdout: 'ran by dash\ndirect\none\n',
      stderr: '',
      status: 4,
    });
    assert.deepEqual(await run(REMOTE_COMMAND, program, 'socket', '/bin/sh'), {
      stdout: 'ran by dash\ncommands\none\n',
      stderr: '',
      status: 4,
    });
    // Another login shell, even one that is sh too: the shell asked for, started again.
    assert.equal((await run(REMOTE_COMMAND, HOW, 'pipe', '/usr/bin/dash')).stdout, 'second\n');
  });

  // sshd hands the command to the user's login shell, whatever it is.
  for (const login of ['/usr/bin/bash', '/usr/bin/tcsh', '/usr/bin/fish']) {
    it(`a ${login.slice('/usr/bin/'.length)} login shell runs it as dash does`, async () => {
      const program = `${WHO}${HOW}echo one\nexit 4\n`;
      for (const stdin of ['pipe', 'socket'] as const) {
        assert.deepEqual(await run(REMOTE_COMMAND, program, stdin, login), {
          stdout: `ran by dash\n${stdin === 'pipe' ? 'second' : 'commands'}\none\n`,
          stderr: '',
          status: 4,
        });
      }
    });
  }

  // The session's shell names how it was started: by the login shell's `-c` or by /bin/sh's.
  const sessionFrames =
    'n0nce\nL0 2\nb_x=loaded\ncase "$(tr "\\0" " " < /proc/$$/cmdline)" in *"-c test "*) b_how=direct ;; *"-c IFS= "*) b_how=second ;; *) b_how=unknown ;; esac\nP1 2\necho "$b_x $b_how"\nexit 3\n';
  const sessionOutput = (how: string) =>
    `@@n0nce L0 start\n\n@@n0nce L0 end 0\n@@n0nce P1 start\nloaded ${how}\n\n@@n0nce P1 end 3\n`;

  for (const login of ['/usr/bin/tcsh', '/usr/bin/fish']) {
    it(`a ${login.slice('/usr/bin/'.length)} login shell runs the host session's command as dash does`, async () => {
      const ran = await run(SESSION_COMMAND, sessionFrames, 'pipe', login);
      assert.deepEqual(ran, await run(SESSION_COMMAND, sessionFrames, 'pipe'));
      assert.equal(ran.stdout, sessionOutput('second'));
    });
  }

  it("a /bin/sh login shell runs the host session's loop itself", async () => {
    const ran = await run(SESSION_COMMAND, sessionFrames, 'pipe', '/bin/sh');
    assert.equal(ran.stdout, sessionOutput('direct'));
    assert.equal(ran.status, 0);
  });

  for (const [name, path] of SHELLS) {
    const command = remoteCommand(path);
    const target = path.startsWith('/usr/bin/') ? path.slice('/usr/bin/'.length) : 'busybox';

    for (const stdin of ['pipe', 'socket'] as const) {
      it(`${name}, program on a ${stdin}: its output, exit N and last status, run by ${name}`, async () => {
        const exits = await run(command, `${WHO}echo one\necho two >&2\nexit 7\necho never\n`, stdin);
        assert.deepEqual(exits, { stdout: `ran by ${target}\none\n`, stderr: 'two\n', status: 7 });
        const ends = await run(command, 'echo three\nfalse\n', stdin);
        assert.deepEqual(ends, { stdout: 'three\n', stderr: '', status: 1 });
        // The host program's shapes: functions, a here-document, a subshell, `$?` after it.
        const shaped = await run(
          command,
          "f() { printf '%s\\n' \"$1\"; }\nf 'a b'\ncat <<'EOF'\nx $y\nEOF\n(exit 3); echo \"st=$?\"\n",
          stdin,
        );
        assert.deepEqual(shaped, { stdout: 'a b\nx $y\nst=3\n', stderr: '', status: 0 });
      });
    }

    it(`${name} as the login shell too: it sources a piped program itself`, async () => {
      const ran = await run(command, `${WHO}${HOW}echo one\nexit 5\n`, 'pipe', path);
      assert.deepEqual(ran, { stdout: `ran by ${target}\ndirect\none\n`, stderr: '', status: 5 });
      const read = await run(
        command,
        'IFS= read -r line || line=nothing\necho "read: $line"\n',
        'pipe',
        path,
      );
      assert.deepEqual(read, { stdout: 'read: nothing\n', stderr: '', status: 0 });
    });

    it(`${name}, program on a pipe: read as a file, so no command gets program text on stdin`, async () => {
      // Read as commands from a pipe (the fallback), a byte at a time, `read` would take the line
      // after it and that line would never run; dash and busybox read ahead there as well.
      const program = 'IFS= read -r line || line=nothing\necho "read: $line"\necho after\n';
      const ran = await run(command, program, 'pipe');
      assert.deepEqual(ran, { stdout: 'read: nothing\nafter\n', stderr: '', status: 0 });
    });
  }
});
