// A provision under each of the seven shells, on a host that keeps the host code in lib/ (SPEC
// 2.2), through each way its runner gets the code without the command carrying it: the cached
// form fed on stdin (the local transport) and sourced from a pipe (the SSH remote command), which
// copy lib/'s file into the runner and check it against its name; SSM's loaded form run as the
// agent runs it, which writes the text it loaded and checked ($_k); and the self-contained form
// (`--dry-run`'s program), which writes its own $B_HOSTCODE. Each runner is whole on the host: it
// runs both hooks once and finishes its journal after the program that started it has ended.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cachedForm } from '../../lib/host/host-code.ts';
import { PRELUDE } from '../../lib/host/prelude-text.ts';
import { type HostTarget, runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { parseFrame, renderCommands } from '../../lib/transport/ssm/frame.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { recording } from '../support/host-code.ts';
import { sevenShells, waitFor } from '../support/host-files.ts';
import { createPipedTransport } from '../support/piped-transport.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { useHostScratch, warmCache } from './runner-setup.ts';

const uid = process.getuid?.() ?? 0;
const scratch = useHostScratch();

/** The cached long program with its runner's code left out: its header, its own lines, and no more. */
const CACHED_LONG_LIMIT = 8 * 1024;

interface Journal {
  id: string;
  status: string;
  steps: Array<{ product: string; exitCode: number }>;
}

/** The journal on the host once it is final (the runner goes on after its starter has ended). */
async function finished(sandbox: Sandbox, id: string): Promise<Journal> {
  const file = join(sandbox.stateDir, 'operations', `${id}.json`);
  return waitFor(`${id} to finish`, () => {
    try {
      const journal = JSON.parse(readFileSync(file, 'utf8')) as Journal;
      return journal.status === 'running' ? undefined : journal;
    } catch {
      return undefined;
    }
  });
}

/** Both hooks ran once for this operation, and it succeeded. */
function ranOnce(sandbox: Sandbox, journal: Journal, how: string): void {
  assert.equal(journal.status, 'succeeded', `${how}: ${JSON.stringify(journal)}`);
  assert.deepEqual(
    journal.steps.map((s) => [s.product, s.exitCode]),
    [
      ['haproxy', 0],
      ['deepfiler', 0],
    ],
    how,
  );
  const log = readFileSync(join(sandbox.stateDir, 'logs', `${journal.id}.log`), 'utf8');
  for (const product of ['haproxy', 'deepfiler'])
    assert.equal(log.split(`${product}.provision ran`).length - 1, 1, `${how}: ${log}`);
}

describe('a provision whose runner takes its code from what the program holds, under seven shells', () => {
  for (const [name, shell, env = {}] of sevenShells(scratch.busybox)) {
    it(`${name}: from lib/ (stdin and the SSH remote command), from SSM's loaded code, and from the self-contained program`, async () => {
      const sandbox = scratch.sandbox();
      const local = createLocalTransport({ shell, env });
      await warmCache(sandbox, sandbox.host(local), uid, 'haproxy', { maxconn: '5' });
      let n = 0;
      const provision = async (host: HostTarget) =>
        (await runCommand(host, {
          command: 'server.provision',
          role: 'edge',
          operationId: `op_01HZX3M5Q7R8S9T0V1W2X3Y4${String(n++).padStart(2, '0')}`,
        })) as Journal;

      // The cached form: the runner's code copied from lib/ and checked.
      for (const [how, transport] of [
        ['stdin', local],
        ['the SSH remote command', createPipedTransport(shell, env)],
      ] satisfies Array<[string, Transport]>) {
        const recorded = recording(transport);
        const journal = await provision(sandbox.host(recorded));
        const longs = recorded.exchanges.filter((e) => e.program.includes('B_RUN_DIR='));
        assert.equal(longs.length, 1, how);
        const program = longs[0]!.program;
        assert.ok(
          !program.includes('B_HOSTCODE=') && !program.includes('b_emit()'),
          `${how}: no host code sent`,
        );
        assert.ok(
          Buffer.byteLength(program) < CACHED_LONG_LIMIT,
          `${how}: ${Buffer.byteLength(program)} bytes sent`,
        );
        ranOnce(sandbox, await finished(sandbox, journal.id), how);
      }

      // SSM's loaded form, as the agent runs it: the code it loaded ($_k) written into the runner.
      const id = `op_01HZX3M5Q7R8S9T0V1W2X3Y4${String(n++).padStart(2, '0')}`;
      const dry = (await runCommand(
        sandbox.host(local),
        { command: 'server.provision', role: 'edge', operationId: id },
        { dryRun: true },
      )) as { program: string };
      const { commands, cached } = renderCommands(cachedForm(dry.program) ?? '');
      assert.ok(cached, 'the loaded form, the runner included');
      const tmp = join(sandbox.root, 'tmp');
      mkdirSync(tmp);
      const script = join(sandbox.root, '_script.sh');
      writeFileSync(script, commands, { mode: 0o700 });
      const agent = spawnSync(shell, ['-c', script], {
        env: { PATH: process.env['PATH'], ...env, TMPDIR: tmp, BOOTSTRAP_SH: shell },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.equal(agent.status, 0, agent.stderr);
      const frame = parseFrame(agent.stdout);
      assert.ok(frame?.kind === 'inline' && frame.exitCode === 0, agent.stdout);
      assert.match(frame.stdout, /^@bootstrap 1\n/);
      assert.match(frame.stdout, /"status":"running"/, 'the runner answered, running');
      ranOnce(sandbox, await finished(sandbox, id), 'SSM');
      // The runner's shell removes its last here-document's temp file (mksh, posh) as it exits,
      // just after its journal is final.
      await waitFor('no temp file left', () => readdirSync(tmp).length === 0);

      // The self-contained form, as --dry-run prints it: its own $B_HOSTCODE written into the runner.
      const whole = `op_01HZX3M5Q7R8S9T0V1W2X3Y4${String(n++).padStart(2, '0')}`;
      const printed = (await runCommand(
        sandbox.host(local),
        { command: 'server.provision', role: 'edge', operationId: whole },
        { dryRun: true },
      )) as { program: string };
      const ran = await local.exec({ program: printed.program });
      assert.equal(ran.exitCode, 0, ran.stderr);
      assert.match(ran.stdout, /^(@hostcode installed\n)?@bootstrap 1\n/);
      ranOnce(sandbox, await finished(sandbox, whole), 'self-contained');
    });
  }
});

describe("posh's getopt(3), never reset, and the wait on a hook", () => {
  // After a builtin that parsed an option (`read -r`), posh's next option parse reads on from the
  // end of that option's word, freed since; once a later string is stored there, `wait` finds an
  // option nobody gave and fails without waiting (a runner then took a running hook for one that
  // failed). The runner resets getopt(3) before it waits (prelude.sh b_getopt_reset).
  const waitAfterRead = (reset: boolean) =>
    spawnSync(
      'posh',
      [
        '-c',
        `${PRELUDE}f() {\nsleep 0 & P=$!\nread -r x </dev/null\ny=abcdefgh; z=$y$y\n${reset ? 'b_getopt_reset\n' : ''}wait "$P"; echo "rc=$?"\n}\nf\n`,
      ],
      { encoding: 'utf8' },
    );

  it('the wait after b_getopt_reset waits and answers the status', (t) => {
    const control = waitAfterRead(false);
    if (!/invalid option/.test(control.stderr))
      t.diagnostic('this posh did not misread the wait without the reset');
    const { stdout, stderr } = waitAfterRead(true);
    assert.deepEqual({ stdout, stderr }, { stdout: 'rc=0\n', stderr: '' });
  });
});
