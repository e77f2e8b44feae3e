// The CLI loads ssh2 and the SSH transport only for `--host`: a command on this machine never
// pays for them (about a tenth of the CLI's start). Checked in a process of its own from the
// sources, where ssh2 (CommonJS) shows in the module cache once loaded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** Runs the CLI's main() with `argv` in a fresh process; whether ssh2 was loaded, and the exit code. */
function run(argv: string[]): { ssh2: boolean; code: number } {
  const script = [
    "const { createRequire } = await import('node:module');",
    "const { main } = await import('./lib/cli/main.ts');",
    `const code = await main(${JSON.stringify(argv)});`,
    "const cache = createRequire(import.meta.url)('module')._cache;",
    'const ssh2 = Object.keys(cache).some((k) => /node_modules[\\\\/]ssh2[\\\\/]/.test(k));',
    "process.stdout.write('\\n' + JSON.stringify({ ssh2, code }) + '\\n');",
  ].join('\n');
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  assert.match(last, /^\{"ssh2"/, `no answer from the child:\n${child.stdout}\n${child.stderr}`);
  return JSON.parse(last) as { ssh2: boolean; code: number };
}

describe('ssh2 loads only for --host', () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = createSandbox();
  });
  after(() => sandbox.cleanup());

  it('a command on this machine does not load it', () => {
    const local = run(['server.mode', '--config', sandbox.configPath, '--state-dir', sandbox.stateDir]);
    assert.deepEqual(local, { ssh2: false, code: 0 });
  });

  it('--host does', () => {
    // Nothing listens on port 1: the command fails, after the SSH transport was loaded to try.
    const remote = run(['server.mode', '--host', '127.0.0.1', '-p', '1', '--known-hosts', '/dev/null']);
    assert.equal(remote.ssh2, true);
    assert.notEqual(remote.code, 0);
  });
});
