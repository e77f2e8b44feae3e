/**
 * What an operator meets at the command line (the operator-angle and output-contract audits):
 * Ctrl-C while a long operation is followed, two targets on one line, an operation id reused for
 * another request, `--detach` with a configured callback_url, `--help` that lists exactly what
 * is accepted, the demo's transcript, the "no AWS region" advice, and a state dir that cannot be
 * created.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { acceptedOptions } from '../../lib/cli/applicable.ts';
import { COMMANDS, OPTION_NAMES, parseCli } from '../../lib/cli/args.ts';
import { helpFor } from '../../lib/cli/help.ts';
import { runCli } from '../support/cli.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { sandboxArgv, sandboxPool, writeLocalInventory } from './sandbox-cli.ts';

const on = sandboxArgv;

/** Waits (up to `ms`) until `check` answers something other than undefined. */
async function until<T>(check: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Follows operation `id` to its final journal. */
async function finalJournal(sb: Sandbox, id: string): Promise<{ status: string; id: string }> {
  for (;;) {
    const run = await runCli(on(sb, 'operation.get', id, '--json'));
    const journal = JSON.parse(run.stdout);
    if (journal.status !== 'running') return journal;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const journals = (sb: Sandbox) => {
  const dir = join(sb.stateDir, 'operations');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
};

describe('operator-facing CLI behaviour', () => {
  const { sandbox, cleanup } = sandboxPool();
  after(cleanup);

  describe('SIGINT or SIGTERM while a long operation is followed', () => {
    /** Spawns the real CLI (bin/, as an operator runs it) and ends it with `signal` once the operation runs. */
    async function interrupted(signal: 'SIGINT' | 'SIGTERM', extra: string[]) {
      const sb = sandbox();
      sb.behave('deepfiler', 'upgrade', { sleep: 3, output: 'slow upgrade' });
      const child: ChildProcess = spawn(
        process.execPath,
        ['bin/cloudiq-bootstrap.js', ...on(sb, 'product.upgrade', 'deepfiler', '3.2.1', ...extra)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => {
        stdout += d;
      });
      child.stderr?.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // The runner has started once the journal is there.
      const file = await until(() => journals(sb)[0]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill(signal);
      const code = await exited;
      return { sb, code, stdout, stderr, id: file.replace(/\.json$/, '') };
    }

    it('SIGINT: exits 130, says the operation goes on with its id and how to follow it; it ends on the host', async () => {
      const { sb, code, stdout, stderr, id } = await interrupted('SIGINT', ['--json']);
      assert.equal(code, 130, stderr);
      assert.equal(stdout, '', 'with --json, stdout stays empty (never half a document)');
      assert.match(stderr, new RegExp(`product\\.upgrade ${id} goes on under its lock on localhost`));
      const follow = stderr.split('\n').find((line) => line.startsWith('  cloudiq-bootstrap '));
      assert.ok(follow, stderr);
      const argv = follow.trim().split(' ').slice(1);
      assert.deepEqual(argv, on(sb, 'operation.get', id));
      // The printed command follows it, and it succeeds on the host.
      const journal = await finalJournal(sb, id);
      assert.equal(journal.status, 'succeeded');
      const run = await runCli([...argv, '--json']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).id, id);
    });

    it('SIGTERM: exits 143 with the same notice, the given --operation-id named', async () => {
      const { sb, code, stdout, stderr, id } = await interrupted('SIGTERM', ['--operation-id', 'ctrl-c-1']);
      assert.equal(code, 143, stderr);
      assert.equal(stdout, '');
      assert.equal(id, 'ctrl-c-1');
      assert.match(stderr, /SIGTERM: the CLI stops following; product\.upgrade ctrl-c-1 goes on/);
      assert.equal((await finalJournal(sb, id)).status, 'succeeded');
    });

    it('a fleet run (--inventory): exits 130 and names the command that follows the run', async () => {
      const sb = sandbox();
      sb.behave('deepfiler', 'upgrade', { sleep: 3 });
      const inventory = writeLocalInventory(join(sb.root, 'inventory.ini'), { h0: sb });
      const child = spawn(
        process.execPath,
        [
          'bin/cloudiq-bootstrap.js',
          ...['--inventory', inventory, '--select', 'all', 'product.upgrade', 'deepfiler', '3.2.1'],
          ...['--no-health-gate', '--json'],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const id = (await until(() => journals(sb)[0])).replace(/\.json$/, '');
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill('SIGINT');
      assert.equal(await exited, 130, stderr);
      assert.equal(stdout, '');
      assert.ok(
        stderr.includes(`  cloudiq-bootstrap --inventory ${inventory} --select all operation.get ${id}\n`),
        stderr,
      );
      assert.equal((await finalJournal(sb, id)).status, 'succeeded');
    });
  });

  it('refuses two targets on one command line before anything runs (INVALID_REQUEST, exit 2)', async () => {
    const sb = sandbox();
    const inventory = writeLocalInventory(join(sb.root, 'inventory.ini'), { 'web-1': sb });
    const cases: Array<[string[], RegExp]> = [
      [
        [
          '--host',
          '10.9.9.9',
          '--inventory',
          inventory,
          '--select',
          'all',
          'server.mode',
          'drain',
          '--dry-run',
        ],
        /--host and --inventory name two targets/,
      ],
      [
        [
          '--ssm',
          'i-0123456789abcdef0',
          '--region',
          'eu-west-1',
          '--inventory',
          inventory,
          '--select',
          'web-1',
          'server.mode',
        ],
        /--ssm and --inventory name two targets/,
      ],
      [['--host', 'a', '--ssm', 'i-1', 'server.mode'], /--host and --ssm name two targets/],
      [
        ['--host', 'a', '--ssm', 'i-1', '--inventory', inventory, '--select', 'all', 'heartbeat.get'],
        /--host, --ssm and --inventory name three targets/,
      ],
    ];
    for (const [argv, expected] of cases) {
      const run = await runCli(argv);
      assert.equal(run.code, 2, `${argv.join(' ')}: ${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^error: INVALID_REQUEST: /);
      assert.match(run.stderr, expected);
      assert.match(run.stderr, /give one of --host, --ssm or --inventory; usage: cloudiq-bootstrap /);
    }
    assert.equal(existsSync(sb.stateDir), false, 'nothing ran on the inventory host');
  });

  it('refuses an operation id reused for another command or other arguments; the same request answers its journal', async () => {
    const sb = sandbox();
    const first = await runCli(
      on(sb, 'product.upgrade', 'deepfiler', '3.2.1', '--operation-id', 'a1', '--json'),
    );
    assert.equal(first.code, 0, first.stderr);
    const journal = JSON.parse(first.stdout);
    for (const argv of [
      ['server.provision', '--role', 'edge', '--operation-id', 'a1', '--json'],
      ['product.upgrade', 'deepfiler', '3.2.2', '--operation-id', 'a1', '--json'],
      ['product.upgrade', 'haproxy', '3.2.1', '--operation-id', 'a1', '--json', '--detach'],
    ]) {
      const run = await runCli(on(sb, ...argv));
      assert.equal(run.code, 2, `${argv.join(' ')}: ${run.stdout}${run.stderr}`);
      const error = JSON.parse(run.stdout).error;
      assert.equal(error.code, 'INVALID_REQUEST');
      assert.match(error.message, /operation id a1 is already used by another request/);
      assert.deepEqual(error.details.existing, {
        command: 'product.upgrade',
        args: { product: 'deepfiler', version: '3.2.1' },
      });
    }
    assert.equal(existsSync(join(sb.root, 'out', 'haproxy.provision.env')), false, 'nothing was provisioned');
    const again = await runCli(
      on(sb, 'product.upgrade', 'deepfiler', '3.2.1', '--operation-id', 'a1', '--json'),
    );
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout), journal);
  });

  it('server.provision repeated under its id without --role answers its journal, whatever role was recorded since', async () => {
    const sb = sandbox();
    const first = await runCli(
      on(sb, 'server.provision', '--role', 'edge', '--operation-id', 'p1', '--json'),
    );
    assert.equal(first.code, 0, first.stderr);
    const journal = JSON.parse(first.stdout);
    assert.deepEqual(journal.args, { role: 'edge' });
    // Another provision since records another role, which ROLE now defaults to (SPEC 2.5): a
    // repeat that names no role still states nothing that differs from p1's journal.
    const other = await runCli(
      on(sb, 'server.provision', '--role', 'worker', '--operation-id', 'p2', '--json'),
    );
    assert.equal(other.code, 0, other.stderr);
    for (const argv of [
      ['server.provision', '--operation-id', 'p1', '--json'],
      ['server.provision', '--role', 'edge', '--operation-id', 'p1', '--json'],
    ]) {
      const again = await runCli(on(sb, ...argv));
      assert.equal(again.code, 0, `${argv.join(' ')}: ${again.stdout}${again.stderr}`);
      assert.deepEqual(JSON.parse(again.stdout), journal);
    }
    const refused = await runCli(
      on(sb, 'server.provision', '--role', 'worker', '--operation-id', 'p1', '--json'),
    );
    assert.equal(refused.code, 2, refused.stdout);
    const error = JSON.parse(refused.stdout).error;
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.match(
      error.message,
      /operation id p1 is already used by another request \(role "edge", not "worker"\)/,
    );
    assert.deepEqual(journals(sb).sort(), ['p1.json', 'p2.json']);
  });

  it('--detach with a configured callback_url warns on stderr that it is not called; stdout and exit unchanged', async () => {
    const sb = sandbox({ serverExtra: 'callback_url = http://127.0.0.1:9/never' });
    const run = await runCli(on(sb, 'product.upgrade', 'deepfiler', '3.2.1', '--detach', '--json'));
    assert.equal(run.code, 0, run.stderr);
    const journal = JSON.parse(run.stdout);
    assert.equal(journal.status, 'running');
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0]!,
      new RegExp(
        `^warning: \\[server\\] callback_url is not called for ${journal.id}: the CLI does not follow a detached operation; follow it with: cloudiq-bootstrap .*operation\\.get ${journal.id}`,
      ),
    );
    await finalJournal(sb, journal.id);
    const plain = sandbox();
    const quiet = await runCli(on(plain, 'product.upgrade', 'deepfiler', '3.2.1', '--detach', '--json'));
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, '', 'no callback_url, no warning');
    await finalJournal(plain, JSON.parse(quiet.stdout).id);
  });

  it("each command's --help lists exactly the options it accepts", () => {
    for (const command of [...COMMANDS, 'serve', 'demo']) {
      const help = helpFor(command);
      const accepted = acceptedOptions(command);
      for (const option of OPTION_NAMES) {
        if (option === 'limit') continue; // the other name of --select, named in its line
        const listed = new RegExp(`(^|[ ,])--${option}( |$)`, 'm').test(help);
        assert.equal(listed, accepted.has(option), `${command} --help and --${option}`);
        if (accepted.has(option) || option === 'help' || option === 'version') continue;
        // What help leaves out is refused, whichever target the line names.
        for (const target of [
          [],
          ['--host', 'h'],
          ['--ssm', 'i-1'],
          ['--inventory', 'f', '--select', 'all'],
        ]) {
          if (target.includes(`--${option}`)) continue;
          const boolean = ['json', 'detach', 'dry-run', 'accept-new-host-key', 'no-health-gate'];
          const argv = [...target, command, `--${option}`, ...(boolean.includes(option) ? [] : ['5'])];
          assert.throws(() => parseCli(argv), /does not apply|two targets/, argv.join(' '));
        }
      }
    }
    assert.doesNotMatch(helpFor('serve'), /--host|--select|--config|--callback|Targets/);
    assert.doesNotMatch(helpFor('demo'), /--json|--host|--inventory/);
    for (const word of ['-F, --ssh-config FILE', '--profile NAME', '--version']) {
      assert.ok(helpFor('heartbeat.get').includes(word), word);
      assert.ok(helpFor(null).includes(word), word);
    }
  });

  it('the demo prints each command line as it can be run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cloudiq-demo-'));
    try {
      const script = `process.env.CLOUDIQ_DEMO_DIR = ${JSON.stringify(dir)};
        const { main } = await import(${JSON.stringify(join(process.cwd(), 'lib/cli/main.ts'))});
        process.exitCode = await main(['demo']);`;
      const demo = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let stdout = '';
        child.stdout.on('data', (d) => {
          stdout += d;
        });
        child.on('exit', (code) => resolve({ code, stdout }));
      });
      assert.equal(demo.code, 0, demo.stdout);
      const shown = demo.stdout
        .split('\n')
        .filter((line) => line.startsWith('$ '))
        .map((line) => line.slice(2));
      assert.equal(shown.length, 5, demo.stdout);
      assert.ok(
        shown.some((line) => line.includes('server.provision --role edge')),
        demo.stdout,
      );
      for (const line of shown) {
        const [npx, program, ...argv] = line.split(' ');
        assert.deepEqual([npx, program], ['npx', 'cloudiq-bootstrap'], line);
        const run = await runCli(argv);
        assert.equal(run.code, 0, `${line}: ${run.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('no AWS region', () => {
    const saved = { ...process.env };
    before(() => {
      for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[name];
      process.env['AWS_CONFIG_FILE'] = join(tmpdir(), 'cloudiq-no-such-aws-config');
    });
    after(() => {
      for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    });

    it('names what applies: --region for --ssm, region = in the inventory for an inventory host', async () => {
      const sb = sandbox();
      const single = await runCli(['--ssm', 'i-0123456789abcdef0', 'heartbeat.get', '--json']);
      assert.equal(single.code, 6, single.stdout + single.stderr);
      assert.match(JSON.parse(single.stdout).error.message, /^no AWS region: set AWS_REGION or --region$/);
      const inventory = join(sb.root, 'inventory.ini');
      writeFileSync(
        inventory,
        `[host:managed]\ntransport = ssm\ninstance_id = i-0123456789abcdef0\nconfig_path = ${sb.configPath}\nstate_dir = ${sb.stateDir}\n`,
      );
      const fleet = await runCli(['--inventory', inventory, '--select', 'all', 'heartbeat.get', '--json']);
      assert.equal(fleet.code, 4, fleet.stdout + fleet.stderr);
      const error = JSON.parse(fleet.stdout).targets[0].error;
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.match(
        error.message,
        /set region = in its \[host:managed\] section of the inventory, or AWS_REGION/,
      );
      assert.doesNotMatch(error.message, /--region/, 'a fleet run refuses --region');
      assert.equal(error.details.section, 'host:managed');
      assert.equal(error.details.key, 'region');
    });
  });

  it('a state dir that cannot be created is CONFIG_ERROR (exit 6) naming it, with the host’s reason', async () => {
    const sb = sandbox();
    const blocker = join(sb.root, 'not-a-dir');
    writeFileSync(blocker, 'a file where a directory would go\n');
    const stateDir = join(blocker, 'state');
    for (const argv of [
      ['product.set', 'haproxy', 'maxconn=1', '--json'],
      ['server.provision', '--role', 'edge', '--json'],
    ]) {
      const run = await runCli(['--config', sb.configPath, '--state-dir', stateDir, ...argv]);
      assert.equal(run.code, 6, run.stdout + run.stderr);
      const error = JSON.parse(run.stdout).error;
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.match(error.message, /the state dir .*cannot be created: mkdir: /);
      // The path mkdir could not make: the state dir, or the first of its parents it lacks.
      assert.ok(stateDir.startsWith(error.details.file), JSON.stringify(error.details));
      assert.ok(error.message.includes(error.details.file), error.message);
      assert.equal(error.details.section, null);
      assert.equal(error.details.key, null);
    }
    assert.equal(readFileSync(blocker, 'utf8'), 'a file where a directory would go\n');
  });
});
