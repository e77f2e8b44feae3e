// A program cut short on its way to the host (the CLI killed while it still sends a large
// product.set, an SSH connection lost) runs nothing: the transports that feed a program on stdin
// send it as one brace group (lib/host/envelope.ts), which every shell parses whole before it runs
// any of it. Without it, dash and busybox ran the program up to the cut: the write's here-document
// ended early and the short file was committed (SPEC 2.2, 2.5). Under the seven shells, read as
// the local transport feeds them (commands on stdin) and as the SSH remote command has them
// (sourcing a pipe), both forms of the program (relying on the host's cached code, and
// self-contained), cut at points inside the data, after it, and before the group's end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { wholeOrNothing } from '../../lib/host/envelope.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { remoteCommand } from '../../lib/transport/ssh/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import { createBusyboxDir, sevenShells } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const BIG = 'v'.repeat(3000);

describe('a program cut short on its way runs nothing', () => {
  const busybox = createBusyboxDir();
  let sandbox: Sandbox;
  /** The write program of a large product.set: its cached form, then its self-contained form. */
  const forms: string[] = [];
  let productFile: string;
  let before_: string;

  before(async () => {
    sandbox = createSandbox();
    const local = createLocalTransport({ shell: '/usr/bin/dash' });
    const host = sandbox.host(local);
    // The host's code is cached, the product has a state to lose.
    await runCommand(host, { command: 'product.upgrade', product: 'haproxy', version: '2.8.3' });
    productFile = join(sandbox.stateDir, 'products', 'haproxy.ini');
    before_ = readFileSync(productFile, 'utf8');
    // Records the write's two forms without running them: the first is answered as a host
    // without usable cached code would, so the self-contained form follows.
    const recording: Transport = {
      kind: 'local',
      target: 'localhost',
      exec: async (request) => {
        if (!request.program.includes('b_take_lock')) return local.exec(request);
        forms.push(request.program);
        return forms.length === 1
          ? { stdout: '@hostcode absent\n', stderr: '', exitCode: 0 }
          : { stdout: '', stderr: 'recorded', exitCode: 1 };
      },
      close: async () => {},
    };
    const values = { maxconn: '4096', motd: BIG };
    await runCommand(sandbox.host(recording), { command: 'product.set', product: 'haproxy', values }).catch(
      () => {},
    );
    assert.equal(forms.length, 2, 'both forms of the write were recorded');
  });
  after(() => {
    sandbox?.cleanup();
    busybox.cleanup();
  });

  /** Where to cut the envelope's text: inside the data, after it, and before the group's end. */
  function cuts(text: string): number[] {
    const data = text.indexOf("<<'CLOUDIQ_DATA'");
    const end = text.indexOf('\nCLOUDIQ_DATA\n', data);
    assert.ok(data > 0 && end > data, 'the program carries its data in a here-document');
    return [Math.floor((data + end) / 2), end + '\nCLOUDIQ_DATA\n'.length, text.length - 2];
  }

  for (const [name, shell, env] of sevenShells(busybox)) {
    for (const how of ['commands on stdin', 'sourced from a pipe'] as const) {
      it(`${name}, ${how}: the product file is the old one, unlocked, with no temp file left`, () => {
        for (const [f, form] of forms.entries()) {
          const text = wholeOrNothing(form);
          for (const cut of cuts(text)) {
            const argv =
              how === 'commands on stdin' ? [shell] : ['/usr/bin/dash', '-c', remoteCommand(shell)];
            const run = spawnSync(argv[0]!, argv.slice(1), {
              input: text.slice(0, cut),
              cwd: '/',
              env: { ...process.env, ...env, SHELL: how === 'sourced from a pipe' ? shell : '' },
              encoding: 'utf8',
            });
            const where = `form ${f}, cut at ${cut} of ${text.length}`;
            assert.equal(run.stdout, '', `${where}: it ran (${run.stdout.slice(0, 200)})`);
            assert.equal(readFileSync(productFile, 'utf8'), before_, `${where}: the product file changed`);
            assert.deepEqual(
              readdirSync(join(sandbox.stateDir, 'products')),
              ['haproxy.ini'],
              `${where}: a file was left`,
            );
            const lock = join(sandbox.stateDir, 'bootstrap.pid');
            assert.equal(readFileSync(lock, { encoding: 'utf8', flag: 'a+' }), '', `${where}: left locked`);
          }
        }
      });
    }
  }

  it('the whole program, uncut, does write (the forms recorded are the real write)', () => {
    const run = spawnSync('/usr/bin/dash', [], {
      input: wholeOrNothing(forms[1]!),
      cwd: '/',
      encoding: 'utf8',
    });
    assert.match(run.stdout, /^@ok /m, run.stderr);
    assert.ok(readFileSync(productFile, 'utf8').includes(`\nmotd=${BIG}\n`), 'the new value was written');
  });
});
