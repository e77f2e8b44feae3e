// A file the host cannot read (`@file NAME b64 !`, prelude.sh b_flush: permissions, an I/O error)
// is a CONFIG_ERROR naming that file (SPEC 2.6: exit 6), never INTERNAL: bootstrap.ini, server.ini,
// a product's file. The newest journal unreadable leaves heartbeat.get answering (see
// journal-corrupt-heartbeat.test.ts). The client side takes the record as a file of kind
// `unreadable` (lib/host/parse.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BootstrapError } from '../../lib/errors.ts';
import { type HostAnswer, parseAnswer } from '../../lib/host/parse.ts';
import { heartbeatGet } from '../../lib/operations/heartbeat.ts';
import type { JournalRecord } from '../../lib/operations/journal.ts';
import { type FileRecord, snapshotFrom } from '../../lib/operations/snapshot.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'cloudiq-bootstrap.js');

const host = {
  name: 'web-1',
  configPath: '/etc/cloudiq/bootstrap.ini',
  stateDir: '/var/bootstrap',
} as HostTarget;

/** An answer whose files are these (text, or `unreadable`: what parse.ts gives for `b64 !`). */
function answerWith(files: Record<string, string | 'unreadable'>): HostAnswer {
  const answer = parseAnswer('web-1', { stdout: '@bootstrap 1\n@end\n', stderr: '', exitCode: 0 });
  // `unreadable` is the kind parse.ts is to give `@file NAME b64 !` (not in its FileState yet).
  const records = answer.files as Map<string, FileRecord>;
  for (const [name, content] of Object.entries(files)) {
    records.set(
      name,
      content === 'unreadable' ? { kind: 'unreadable' } : { kind: 'file', data: Buffer.from(content) },
    );
  }
  return answer;
}

function configError(files: Record<string, string | 'unreadable'>, file: string): void {
  assert.throws(
    () => snapshotFrom(host, answerWith(files)),
    (e: unknown) => {
      assert.ok(e instanceof BootstrapError, String(e));
      assert.equal(e.code, 'CONFIG_ERROR', e.message);
      assert.equal(e.details['file'], file);
      assert.ok(e.message.includes(file), e.message);
      assert.match(e.message, /cannot be read/);
      return true;
    },
  );
}

const INI = bootstrapIni('/opt/sandbox');

describe('snapshot of a host whose files cannot be read', () => {
  it('bootstrap.ini unreadable: CONFIG_ERROR naming it', () => {
    configError({ config: 'unreadable' }, host.configPath);
  });

  it('server.ini unreadable: CONFIG_ERROR naming it', () => {
    configError({ config: INI, server: 'unreadable' }, '/var/bootstrap/server.ini');
  });

  it("a product's file unreadable: CONFIG_ERROR naming it", () => {
    configError({ config: INI, 'product:deepfiler': 'unreadable' }, '/var/bootstrap/products/deepfiler.ini');
  });

  it('a product file not read (restricted read) is not looked at', () => {
    const snapshot = snapshotFrom(host, answerWith({ config: INI, 'product:deepfiler': 'unreadable' }), [
      'haproxy',
    ]);
    assert.deepEqual([...snapshot.products.keys()], ['haproxy']);
  });

  it('the newest journal unreadable: heartbeat.get still answers', () => {
    const answer = answerWith({ config: INI });
    answer.lastOperation = { alive: false, text: '', ...{ id: 'op_1', unreadable: true } };
    const beat = heartbeatGet(host, snapshotFrom(host, answer));
    assert.equal(beat.lastOperation?.id, 'op_1');
    assert.equal(beat.lastOperation?.status, 'failed');
    assert.ok(beat.lastOperation && 'error' in beat.lastOperation);
    assert.equal(beat.lastOperation.error.details['file'], '/var/bootstrap/operations/op_1.json');
  });
});

/** Whether lib/host/parse.ts gives `@file NAME b64 !` as a file of kind `unreadable` yet. */
function parseGivesUnreadable(): boolean {
  try {
    const answer = parseAnswer('x', {
      stdout: '@bootstrap 1\n@file config b64 !\n@end\n',
      stderr: '',
      exitCode: 0,
    });
    return (answer.files.get('config')?.kind as string) === 'unreadable';
  } catch {
    return false;
  }
}

/** Whether it gives `@lastop ID ALIVE b64 !` as an unreadable journal record, with its id. */
function parseGivesUnreadableJournal(): boolean {
  try {
    const answer = parseAnswer('x', {
      stdout: '@bootstrap 1\n@lastop op_1 0 b64 !\n@end\n',
      stderr: '',
      exitCode: 0,
    });
    const dump = answer.lastOperation as JournalRecord | undefined;
    return dump?.unreadable === true && dump.id === 'op_1';
  } catch {
    return false;
  }
}

describe('the host answer for a file it cannot read', () => {
  it('parse.ts reads `@file NAME b64 !` and `@lastop ID ALIVE b64 !` as unreadable', () => {
    assert.ok(parseGivesUnreadable());
    assert.ok(parseGivesUnreadableJournal());
  });
});

const NOBODY = 65534;

describe('through the CLI, as an unprivileged user', { skip: process.platform !== 'linux' }, () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = createSandbox();
    if (process.getuid?.() === 0) chownTree(sandbox.root, NOBODY);
    // The product's and server's files exist: written by the CLI as the same user.
    for (const argv of [
      ['product.set', 'haproxy', 'maxconn=1'],
      ['server.mode', 'active'],
      ['server.provision', '--role', 'edge'],
    ]) {
      const set = await cli([...argv, '--json']);
      assert.equal(set.code, 0, set.stdout + set.stderr);
    }
  });
  after(() => sandbox.cleanup());

  async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = {
      ...process.env,
      HOME: '/tmp',
      BOOTSTRAP_CONFIG: sandbox.configPath,
      BOOTSTRAP_STATE_DIR: sandbox.stateDir,
    };
    const [file, args] =
      process.getuid?.() === 0
        ? [
            'setpriv',
            [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...argv],
          ]
        : [process.execPath, [CLI, ...argv]];
    return run(file, args, { env }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
  }

  async function unreadable(path: string, argv: string[]) {
    const mode = statSync(path).mode & 0o777;
    chmodSync(path, 0);
    try {
      const result = await cli(argv);
      assert.equal(result.code, 6, result.stdout + result.stderr);
      const error = JSON.parse(result.stdout).error as {
        code: string;
        message: string;
        details: { file: string };
      };
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.equal(error.details.file, path);
    } finally {
      chmodSync(path, mode);
    }
  }

  it('bootstrap.ini unreadable: every command exits 6 with CONFIG_ERROR naming it', async () => {
    for (const argv of [['heartbeat.get'], ['server.mode'], ['product.get', 'haproxy']])
      await unreadable(sandbox.configPath, [...argv, '--json']);
  });

  it('server.ini unreadable: CONFIG_ERROR naming it', async () => {
    await unreadable(join(sandbox.stateDir, 'server.ini'), ['heartbeat.get', '--json']);
  });

  it("a product's file unreadable: CONFIG_ERROR naming it", async () => {
    await unreadable(join(sandbox.stateDir, 'products', 'haproxy.ini'), ['product.get', 'haproxy', '--json']);
  });

  it('the newest journal unreadable: heartbeat.get answers; operation.get exits 6 naming it', async () => {
    const folder = join(sandbox.stateDir, 'operations');
    const name = readdirSync(folder).find((f) => f.endsWith('.json')) ?? assert.fail('no journal');
    const id = name.slice(0, -'.json'.length);
    const path = join(folder, name);
    chmodSync(path, 0);
    try {
      const beat = await cli(['heartbeat.get', '--json']);
      assert.equal(beat.code, 0, beat.stdout + beat.stderr);
      const last = JSON.parse(beat.stdout).lastOperation;
      assert.equal(last.id, id);
      assert.equal(last.status, 'failed');
      assert.equal(last.error.code, 'CONFIG_ERROR');
      assert.equal(last.error.details.file, path);
    } finally {
      chmodSync(path, 0o644);
    }
    await unreadable(path, ['operation.get', id, '--json']);
  });
});

function chownTree(path: string, id: number): void {
  chownSync(path, id, id);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), id);
}
