// A corrupt newest journal (operations/<id>.json) never takes heartbeat.get down: the heartbeat
// reports the last operation as unreadable in SPEC 2.5.1's lastOperation shape; operation.get of
// that id is a CONFIG_ERROR naming the file (the host's file is bad, not the tool), never INTERNAL.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseBootstrapConfig } from '../../lib/config/bootstrap-config.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { type JournalDump, parseAnswer } from '../../lib/host/parse.ts';
import { heartbeatGet } from '../../lib/operations/heartbeat.ts';
import type { HeartbeatAnswer, Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { readJournal } from '../../lib/operations/journal.ts';
import type { Snapshot } from '../../lib/operations/snapshot.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

describe('a corrupt newest journal', () => {
  let sandbox: Sandbox;
  let host: HostTarget;
  let id: string;
  let file: string;
  let good: string;
  before(async () => {
    sandbox = createSandbox();
    host = sandbox.host();
    const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
    assert.equal(journal.status, 'succeeded');
    id = journal.id;
    file = join(sandbox.stateDir, 'operations', `${id}.json`);
    good = readFileSync(file, 'utf8');
    assert.deepEqual(
      readdirSync(join(sandbox.stateDir, 'operations')).filter((f) => f.endsWith('.json')),
      [`${id}.json`],
    );
  });
  after(() => sandbox.cleanup());
  beforeEach(() => writeFileSync(file, good));

  const heartbeat = async () => (await runCommand(host, { command: 'heartbeat.get' })) as HeartbeatAnswer;

  /**
   * The heartbeat answers, with the last operation failed and an error naming the journal. Its id
   * is the file's name where parse.ts keeps `@lastop ID`, else what is left of the text says (`left`).
   */
  async function reportsUnreadable(left: string | null) {
    const beat = await heartbeat();
    assert.equal(beat.mode, 'active');
    assert.equal(beat.role, 'edge');
    const last = beat.lastOperation;
    assert.ok(last, 'lastOperation is not null: there is a last operation');
    assert.ok('error' in last, 'lastOperation says why it is unknown');
    assert.deepEqual(Object.keys(last), ['id', 'command', 'status', 'finishedAt', 'error']);
    assert.ok(last.id === id || last.id === left, `id ${last.id}`);
    assert.equal(last.status, 'failed');
    assert.equal(last.finishedAt, null);
    assert.equal(last.error?.code, 'CONFIG_ERROR');
    assert.match(last.error?.message ?? '', /(unreadable|malformed) journal/);
    assert.match(last.error?.message ?? '', /operations\//);
    return last;
  }

  it('truncated: the heartbeat answers, naming the operation from what is left', async () => {
    writeFileSync(file, good.slice(0, 80));
    const last = await reportsUnreadable(id);
    assert.equal(last.command, 'server.provision');
    assert.equal(last.error?.details['file'], file);
  });

  it('random bytes: the heartbeat answers', async () => {
    writeFileSync(file, Buffer.from([0x8f, 0x00, 0xff, 0x13, 0x41, 0x0a, 0xc3, 0x28, 0x7b, 0x22]));
    await reportsUnreadable(null);
  });

  it('empty: the heartbeat answers', async () => {
    writeFileSync(file, '');
    await reportsUnreadable(null);
  });

  it('{"id":"x"}: the heartbeat answers; the id it names is all it says', async () => {
    writeFileSync(file, '{"id":"x"}\n');
    const last = await reportsUnreadable('x');
    assert.equal(last.command, null);
    if (last.id === id) assert.equal(last.error.details['file'], file);
    assert.match(last.error?.message ?? '', /status/);
    assert.doesNotMatch(last.error?.message ?? '', /"code"|\n/, 'no zod dump');
  });

  it('CRLF line ends: still JSON, read as it is', async () => {
    writeFileSync(file, good.replaceAll('\n', '\r\n'));
    const last = (await heartbeat()).lastOperation;
    assert.deepEqual(Object.keys(last ?? {}), ['id', 'command', 'status', 'finishedAt']);
    assert.equal(last?.id, id);
    assert.equal(last?.status, 'succeeded');
    const journal = (await runCommand(host, { command: 'operation.get', operationId: id })) as Journal;
    assert.equal(journal.status, 'succeeded');
  });

  it('operation.get of a corrupt journal: CONFIG_ERROR naming the file, not INTERNAL', async () => {
    for (const text of ['', good.slice(0, 50), '{"id":"x"}\n']) {
      writeFileSync(file, text);
      const error = await runCommand(host, { command: 'operation.get', operationId: id }).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof BootstrapError);
      assert.equal(error.code, 'CONFIG_ERROR', error.message);
      assert.equal(error.details['file'], file);
      assert.ok(error.message.includes(file), error.message);
      assert.doesNotMatch(error.message, /\n/);
    }
  });

  it('through the CLI: heartbeat.get exits 0; operation.get exits 6', async () => {
    writeFileSync(file, good.slice(0, 50));
    const env = { BOOTSTRAP_CONFIG: sandbox.configPath, BOOTSTRAP_STATE_DIR: sandbox.stateDir };
    const beat = await runCli(['heartbeat.get', '--json'], env);
    assert.equal(beat.code, 0, beat.stdout + beat.stderr);
    assert.equal(JSON.parse(beat.stdout).lastOperation.status, 'failed');
    const human = await runCli(['heartbeat.get'], env);
    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /(unreadable|malformed) journal/);
    const get = await runCli(['operation.get', id, '--json'], env);
    assert.equal(get.code, 6, get.stdout + get.stderr);
    assert.equal(JSON.parse(get.stdout).error.code, 'CONFIG_ERROR');
  });
});

describe('journal records as parse.ts gives them', () => {
  it('a journal not from a host file stays INTERNAL (a bug), with no zod dump', () => {
    assert.throws(
      () => readJournal('web-1', { alive: false, text: '{"id":"x"}' }),
      (e: unknown) => {
        assert.ok(e instanceof BootstrapError);
        assert.equal(e.code, 'INTERNAL');
        assert.match(e.message, /malformed journal/);
        assert.doesNotMatch(e.message, /\n/);
        return true;
      },
    );
  });

  it('an unreadable record (`b64 !`) with its file name: CONFIG_ERROR saying the host could not read it', () => {
    const dump = { alive: false, text: '', unreadable: true } as JournalDump;
    assert.throws(
      () => readJournal('web-1', dump, '/var/bootstrap/operations/op_1.json'),
      (e: unknown) => {
        assert.ok(e instanceof BootstrapError);
        assert.equal(e.code, 'CONFIG_ERROR');
        assert.match(e.message, /\/var\/bootstrap\/operations\/op_1\.json/);
        assert.match(e.message, /could not be read/);
        return true;
      },
    );
  });
});

describe('heartbeat.get from a last-operation record parse.ts may give', () => {
  const host = {
    name: 'web-1',
    configPath: '/etc/cloudiq/bootstrap.ini',
    stateDir: '/var/bootstrap',
  } as HostTarget;
  const snapshotWith = (lastOperation: JournalDump): Snapshot => ({
    answer: {
      ...parseAnswer('web-1', { stdout: '@bootstrap 1\n@end\n', stderr: '', exitCode: 0 }),
      lastOperation,
    },
    config: parseBootstrapConfig('[server]\nmodes = active\n', host.configPath),
    server: {},
    products: new Map(),
    expectations: new Map(),
  });

  it('`@lastop ID … b64 !` (unreadable, its id kept): that id, failed, the file named', () => {
    const dump = { id: 'op_1', alive: false, text: '', unreadable: true } as JournalDump;
    const last = heartbeatGet(host, snapshotWith(dump)).lastOperation;
    assert.ok(last && 'error' in last);
    assert.equal(last?.id, 'op_1');
    assert.equal(last?.status, 'failed');
    assert.equal(last?.error?.details['file'], '/var/bootstrap/operations/op_1.json');
    assert.match(last?.error?.message ?? '', /could not be read/);
  });

  it("the record's id (the file's name) wins over the id a corrupt text names", () => {
    const dump = { id: 'op_real', alive: false, text: '{"id":"x"}' } as JournalDump;
    const last = heartbeatGet(host, snapshotWith(dump)).lastOperation;
    assert.ok(last && 'error' in last);
    assert.equal(last?.id, 'op_real');
    assert.equal(last?.error?.details['file'], '/var/bootstrap/operations/op_real.json');
  });
});
