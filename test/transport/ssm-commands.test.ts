// Every command of SPEC 2.5 over SSM (the real SSMClient, the loopback SSM server running the
// programs in a sandbox) gives the same JSON, byte for byte, as over the local transport on an
// identical sandbox. Normalised: times, and what necessarily differs between two hosts (process
// ids, uptime and load, the sandbox's own path, ids the host program makes up).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { errorBody } from '../../lib/errors.ts';
import { type CommandRequest, type Journal, runCommand } from '../../lib/operations/index.ts';
import type { RunOptions } from '../../lib/operations/types.ts';
import { type HeldLock, holdLock } from '../support/held-lock.ts';
import type { SsmTestServer } from '../support/ssm-server.ts';
import { localAndSsm, type Side as SsmSide, useSsmPeers } from '../support/ssm-suite.ts';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const OP_ID = /^op_[0-9A-HJKMNP-TV-Z]{26}$/;
const PROVISION_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z5';
const UPGRADE_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z6';
const FAILING_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z7';
const HOLDER_ID = 'op_01HZX3M5Q7R8S9T0V1W2X3Y4Z8';
const PASSED_IDS = new Set([PROVISION_ID, UPGRADE_ID, FAILING_ID, HOLDER_ID]);

interface Side extends SsmSide {
  /** Numbers and paths of this host only, replaced before comparing. */
  pids: number[];
}

type Outcome = { ok: unknown } | { error: unknown };

function normalise(side: Side, outcome: Outcome): string {
  let text = JSON.stringify(outcome, (key, value: unknown) => {
    if (typeof value === 'string' && ISO.test(value)) return '<time>';
    if (typeof value === 'string' && OP_ID.test(value) && !PASSED_IDS.has(value)) return '<op>';
    if (key === 'pid' && typeof value === 'number') return '<pid>';
    if (key === 'uptimeSeconds') return '<uptime>';
    if (key === 'load') return '<load>';
    return value;
  });
  text = text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  text = text.replaceAll(side.sandbox.root, '<root>');
  for (const pid of side.pids) text = text.replace(new RegExp(`\\bpid ${pid}\\b`, 'g'), 'pid <pid>');
  return text;
}

describe('every command over SSM answers what the local transport answers', () => {
  let server: SsmTestServer;
  let local: Side;
  let remote: Side;

  useSsmPeers((peers) => {
    server = peers.server;
    const sides = localAndSsm(peers, 1);
    local = { ...sides.local, pids: [] };
    remote = { ...sides.remote, pids: [] };
  });
  after(async () => {
    await remote.host.transport.close();
    local.sandbox.cleanup();
    remote.sandbox.cleanup();
  });

  /** Runs `request` on both hosts and returns both outcomes, normalised. */
  async function both(request: CommandRequest, options: RunOptions = {}): Promise<[string, string, Outcome]> {
    const run = (side: Side) =>
      runCommand(side.host, request, options).then(
        (ok): Outcome => ({ ok }),
        (error): Outcome => ({ error: errorBody(error) }),
      );
    const [l, r] = await Promise.all([run(local), run(remote)]);
    return [normalise(local, l), normalise(remote, r), l];
  }

  async function same(
    request: CommandRequest,
    expect: 'ok' | string,
    options: RunOptions = {},
  ): Promise<Outcome> {
    const [l, r, raw] = await both(request, options);
    assert.equal(r, l);
    if (expect === 'ok') assert.ok('ok' in raw, l);
    else assert.equal('error' in raw && (raw.error as { code: string }).code, expect, l);
    return raw;
  }

  it('product.get and server.mode on a fresh host', async () => {
    await same({ command: 'product.get', product: 'haproxy' }, 'ok');
    await same({ command: 'product.get', product: 'haproxy', key: 'maxconn' }, 'ok');
    await same({ command: 'server.mode' }, 'ok');
  });

  it('product.set, with values large enough that the answers are paged over SSM', async () => {
    // Random text (gzip cannot shrink it much) of about 4000 bytes, the most a value may hold.
    const alphabet = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789üé✓日€/._-'];
    const big = (seed: string) => {
      let value = seed;
      for (const b of randomBytes(4000)) {
        const next = value + alphabet[b % alphabet.length];
        if (Buffer.byteLength(next) > 3900) break;
        value = next;
      }
      return value;
    };
    await same(
      {
        command: 'product.set',
        product: 'haproxy',
        values: { maxconn: '4096', motd: ` ${big('m')} ; # = ` },
      },
      'ok',
    );
    await same({ command: 'product.set', product: 'haproxy', values: { frontend_port: big('8') } }, 'ok');
    await same(
      {
        command: 'product.set',
        product: 'deepfiler',
        values: { threads: big('日'), storage_path: big('/x'), 'log.level': big('€') },
      },
      'ok',
    );
    const sent = server.calls['SendCommand'] ?? 0;
    await same({ command: 'product.get', product: 'deepfiler' }, 'ok');
    await same({ command: 'product.get', product: 'haproxy', key: 'motd' }, 'ok');
    // product.get reads only its own product's file; a read of every product's file pages.
    await same({ command: 'server.mode' }, 'ok');
    assert.ok((server.calls['SendCommand'] ?? 0) - sent > 2, 'answers were paged through follow-up commands');
  });

  it('server.mode MODE', async () => {
    await same({ command: 'server.mode', mode: 'drain' }, 'ok');
    await same({ command: 'server.mode' }, 'ok');
  });

  it('server.provision, operation.get, product.upgrade with the same operation ids', async () => {
    await same({ command: 'server.provision', role: 'edge', operationId: PROVISION_ID }, 'ok');
    await same({ command: 'operation.get', operationId: PROVISION_ID }, 'ok');
    // The same id again returns the journal instead of running again.
    await same({ command: 'server.provision', role: 'edge', operationId: PROVISION_ID }, 'ok');
    await same(
      { command: 'product.upgrade', product: 'deepfiler', version: '3.2.1', operationId: UPGRADE_ID },
      'ok',
    );
    await same({ command: 'operation.get', operationId: UPGRADE_ID }, 'ok');
  });

  it('a failing upgrade: the failed journal', async () => {
    for (const side of [local, remote])
      side.sandbox.behave('haproxy', 'upgrade', { exit: 3, output: 'no disk' });
    const { ok } = (await same(
      { command: 'product.upgrade', product: 'haproxy', version: '9', operationId: FAILING_ID },
      'ok',
    )) as { ok: Journal };
    assert.equal(ok.status, 'failed');
    await same({ command: 'product.get', product: 'haproxy' }, 'ok');
  });

  it('heartbeat.get and heartbeat.appstack, healthy and degraded', async () => {
    await same({ command: 'heartbeat.get' }, 'ok');
    await same({ command: 'heartbeat.appstack' }, 'ok');
    for (const side of [local, remote]) side.sandbox.setHealthy('haproxy', false);
    await same({ command: 'heartbeat.appstack' }, 'ok');
  });

  it('the same refusals: INVALID_KEY, UNKNOWN_PRODUCT, INVALID_MODE, unknown operation', async () => {
    await same({ command: 'product.set', product: 'haproxy', values: { nope: '1' } }, 'INVALID_KEY');
    await same({ command: 'product.get', product: 'nginx' }, 'UNKNOWN_PRODUCT');
    await same({ command: 'server.mode', mode: 'party' }, 'INVALID_MODE');
    await same({ command: 'operation.get', operationId: 'op_01HZX3M5Q7R8S9T0V1W2X3Y4ZZ' }, 'INVALID_REQUEST');
  });

  it('LOCKED while a detached upgrade holds the lock, and heartbeat.get naming the holder', async () => {
    const held: HeldLock[] = [];
    try {
      for (const side of [local, remote]) {
        const lock = await holdLock(side.sandbox, side.host, { operationId: HOLDER_ID });
        held.push(lock);
        side.pids.push(lock.journal.pid);
      }
      await same({ command: 'product.set', product: 'haproxy', values: { maxconn: '1' } }, 'LOCKED');
      await same({ command: 'heartbeat.get' }, 'ok');
    } finally {
      for (const lock of held) await lock.release();
    }
    await same({ command: 'operation.get', operationId: HOLDER_ID }, 'ok');
  });
});
