// Shared by the host-code cache tests: a transport that records every program and answer (and
// can tamper with the host just before a chosen program), ways to damage the cache, and the two
// scenarios every transport must pass.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ABSENT_RECORD, HOST_CODE, HOST_CODE_SHA256 } from '../../lib/host/kept-code.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { ExecResult, Transport } from '../../lib/transport/types.ts';
import type { Sandbox } from './sandbox.ts';

export interface Exchange {
  program: string;
  result: ExecResult;
}

export interface RecordingTransport extends Transport {
  exchanges: Exchange[];
  /** Runs once, just before the first program for which `when` holds. */
  tamperBefore(when: (program: string) => boolean, tamper: () => void): void;
}

export function recording(inner: Transport): RecordingTransport {
  const exchanges: Exchange[] = [];
  let pending: { when: (program: string) => boolean; tamper: () => void } | undefined;
  return {
    kind: inner.kind,
    target: inner.target,
    exchanges,
    tamperBefore(when, tamper) {
      pending = { when, tamper };
    },
    async exec(request) {
      if (pending?.when(request.program)) {
        pending.tamper();
        pending = undefined;
      }
      const result = await inner.exec(request);
      exchanges.push({ program: request.program, result });
      return result;
    },
    close: () => inner.close(),
  };
}

export const libDir = (stateDir: string) => join(stateDir, 'lib');
export const cacheFile = (stateDir: string) => join(stateDir, 'lib', HOST_CODE_SHA256);

/** `nobody`: a user that is neither root nor the SSH test user. */
export const FOREIGN_UID = 65534;

export type Damage =
  | 'missing'
  | 'corrupt'
  | 'foreign file'
  | 'foreign lib/'
  | 'group-writable'
  | 'other-writable lib/';

/**
 * Damages the cache. A corrupt one keeps a valid program that leaves a mark if it is ever run,
 * so a test can prove a cache that does not match its name never runs.
 */
export function damage(stateDir: string, kind: Damage, mark: string): void {
  const file = cacheFile(stateDir);
  switch (kind) {
    case 'missing':
      rmSync(file);
      break;
    case 'corrupt':
      writeFileSync(file, `${readFileSync(file, 'utf8')}touch '${mark}'\n`);
      break;
    case 'foreign file':
      chownSync(file, FOREIGN_UID, FOREIGN_UID);
      break;
    case 'foreign lib/':
      chownSync(libDir(stateDir), FOREIGN_UID, FOREIGN_UID);
      break;
    case 'group-writable':
      chmodSync(file, 0o660);
      break;
    case 'other-writable lib/':
      chmodSync(libDir(stateDir), 0o757);
      break;
  }
}

/** A program relying on the cache: a few hundred bytes of header and its own lines. */
const SMALL = 2048;

const isWrite = (program: string) => program.includes('b_take_lock') && !program.includes('B_HOSTCODE=');
const isLong = (program: string) => program.includes('B_RUN_DIR') && !program.includes('B_HOSTCODE=');

/** The cache as a good install leaves it: the host code's bytes, ours, readable by the group only. */
export function assertCacheSound(stateDir: string, uid: number): void {
  const file = cacheFile(stateDir);
  assert.equal(
    createHash('sha256').update(readFileSync(file)).digest('hex'),
    HOST_CODE_SHA256,
    'named by its SHA-256',
  );
  assert.equal(readFileSync(file, 'utf8'), HOST_CODE);
  const stat = statSync(file);
  assert.equal(stat.uid, uid, 'the cache is owned by the user running the programs');
  assert.equal(stat.mode & 0o777, 0o640);
  const dir = statSync(libDir(stateDir));
  assert.equal(dir.mode & 0o022, 0, 'lib/ is writable by no one else');
}

/**
 * A fresh host through `transport`: a read creates no state dir and caches nothing; after the
 * first write, the next program installs the cache and every one after it is small.
 */
export async function provesFirstUse(
  sandbox: Sandbox,
  transport: RecordingTransport,
  uid: number,
): Promise<void> {
  const host = sandbox.host(transport);
  assert.deepEqual(await runCommand(host, { command: 'server.mode' }), { mode: 'maintenance' });
  assert.equal(existsSync(sandbox.stateDir), false, 'a read creates no state dir');
  const [first, second] = transport.exchanges;
  assert.equal(first?.result.stdout, `${ABSENT_RECORD}\n`, 'the host said it has no cache, and ran nothing');
  assert.ok(first.program.length < SMALL);
  assert.ok(second?.program.includes('B_HOSTCODE='), 'then the whole program went');

  await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } });
  await runCommand(host, { command: 'product.get', product: 'haproxy' });
  assertCacheSound(sandbox.stateDir, uid);

  const sent = transport.exchanges.length;
  const got = await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' });
  assert.deepEqual(got, { product: 'haproxy', key: 'maxconn', value: '7' });
  const used = transport.exchanges.slice(sent);
  assert.equal(used.length, 1, 'one program, run from the cache');
  assert.ok(used[0]!.program.length < SMALL, `${used[0]!.program.length} bytes sent`);
  assert.ok(!used[0]!.program.includes('b_emit()'), 'no host code in it');
}

/**
 * A host with a sound cache, a new client, and the cache damaged just before a write (then
 * before a long operation): each answers `@hostcode absent` with nothing else, runs whole once,
 * and leaves the cache repaired where lib/ is ours.
 */
export async function provesFallback(
  sandbox: Sandbox,
  connect: () => Transport,
  kind: Damage,
  uid: number,
): Promise<void> {
  const warm = sandbox.host(recording(connect()));
  await runCommand(warm, { command: 'product.set', product: 'haproxy', values: { maxconn: '1' } });
  await runCommand(warm, { command: 'product.get', product: 'haproxy' });
  assertCacheSound(sandbox.stateDir, uid);
  await warm.transport.close();

  const mark = join(sandbox.root, 'out', 'corrupt-cache-ran');
  const transport = recording(connect());
  const host = sandbox.host(transport);
  transport.tamperBefore(isWrite, () => damage(sandbox.stateDir, kind, mark));
  await runCommand(host, { command: 'product.set', product: 'haproxy', values: { maxconn: '2' } });
  const write = transport.exchanges.filter((e) => e.program.includes('b_take_lock'));
  assert.equal(write.length, 2, 'the write went twice: from the cache, then whole');
  assert.equal(write[0]!.result.stdout, `${ABSENT_RECORD}\n`, 'the first ran nothing');
  assert.match(write[1]!.result.stdout, /^(@hostcode installed\n)?@bootstrap 1\n/);
  assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key: 'maxconn' }), {
    product: 'haproxy',
    key: 'maxconn',
    value: '2',
  });
  const repairable = kind !== 'foreign lib/';
  if (repairable) assertCacheSound(sandbox.stateDir, uid);

  // A long operation: the hook runs once and its journal is written once.
  if (repairable) transport.tamperBefore(isLong, () => damage(sandbox.stateDir, kind, mark));
  sandbox.behave('haproxy', 'upgrade', { output: 'upgraded once' });
  const journal = (await runCommand(host, {
    command: 'product.upgrade',
    product: 'haproxy',
    version: '2.0',
    operationId: `op-cache-${kind.replace(/[^a-z]/g, '-')}`,
  })) as { status: string; steps: unknown[]; id: string };
  assert.equal(journal.status, 'succeeded');
  assert.equal(journal.steps.length, 1);
  const log = readFileSync(join(sandbox.stateDir, 'logs', `${journal.id}.log`), 'utf8');
  assert.equal(log.split('upgraded once').length - 1, 1, 'the hook ran exactly once');
  const longs = transport.exchanges.filter((e) => e.program.includes('B_RUN_DIR'));
  if (repairable) {
    assert.equal(longs.length, 2);
    assert.equal(longs[0]!.result.stdout, `${ABSENT_RECORD}\n`);
    assertCacheSound(sandbox.stateDir, uid);
  } else {
    // lib/ is not ours: nothing is cached there, and this client now sends whole programs at once.
    assert.equal(longs.length, 1);
    assert.ok(longs[0]!.program.includes('B_HOSTCODE='));
    assert.equal(statSync(libDir(sandbox.stateDir)).uid, FOREIGN_UID, 'a lib/ of someone else is left alone');
  }
  assert.equal(existsSync(mark), false, 'a cache that does not match its name never runs');
}
