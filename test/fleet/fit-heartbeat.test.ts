// SPEC 5 v2 for the scheduled fleet heartbeat: a report over 1 MiB is POSTed cut — every host that
// is not healthy, then as many healthy ones as fit — with `truncated: true` and a `resultUrl` that
// reads the whole report the report step kept (the runs bucket's pre-signed URL in the cloud).
// The heartbeat's steps run as the state machine calls them (plan, each shard, report) over host
// doubles, the memory delivery ledger and blob store, and a real callback receiver.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { MAX_RESULT_BYTES } from '../../lib/fleet/fit-result.ts';
import type { HeartbeatReport, HostHeartbeat } from '../../lib/fleet/heartbeat.ts';
import { createMemoryDeliveryLedger } from '../../lib/fleet/run-store.ts';
import { createMemoryBlobStore } from '../../lib/fleet/steps/deps.ts';
import {
  fitHeartbeat,
  type HeartbeatDeps,
  reportHeartbeat,
  runHeartbeatStep,
  type ShardItem,
} from '../../lib/fleet/steps/heartbeat.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createHostDoubles } from '../support/host-double.ts';

const STARTED = '2026-11-27T12:00:00.000Z';
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');
/** What the signer of the runs bucket would answer for `key` (the test maps it back). */
const SIGNED = 'https://runs.s3.eu-west-1.amazonaws.com/';
const signed = (key: string) => `${SIGNED}${key}?X-Amz-Signature=test`;

/** An unreachable host's error as SSH reports it: a long message and details, as in the audit. */
function unreachable(server: string, i: number): BootstrapError {
  const address = `10.0.${i >> 8}.${i & 255}`;
  return new BootstrapError(
    'UNREACHABLE',
    `${server}: connect ECONNREFUSED ${address}:22 (after 3 attempts)`,
    { server, address, port: 22, attempts: 3 },
  );
}

describe('the heartbeat report on the wire (SPEC 5 v2: at most 1 MiB, resultUrl when cut)', () => {
  let receiver: CallbackReceiver;
  let blobs: ReturnType<typeof createMemoryBlobStore>;

  before(async () => {
    receiver = await startCallbackReceiver([]);
  });
  after(() => receiver.close());
  beforeEach(() => {
    receiver.requests.length = 0;
    blobs = createMemoryBlobStore('runs');
  });

  /** Plan, every shard, report: `dead` hosts of `total` refuse the connection, the rest are healthy. */
  async function heartbeat(operationId: string, total: number, dead: (i: number) => boolean) {
    const hosts = createHostDoubles(total);
    const index = new Map(hosts.names.map((name, i) => [name, i]));
    const deps: HeartbeatDeps = {
      fleet: hosts.fleet,
      blobs,
      ledger: createMemoryDeliveryLedger(),
      settings: {
        perHostMs: 1,
        hostTimeoutMs: 1_000,
        deadShare: 0,
        periodMs: 300_000,
        hostConcurrency: 200,
        maxShards: 4,
      },
      readHost: async (server) => {
        const i = index.get(server) ?? -1;
        if (dead(i)) throw unreachable(server, i);
        return hosts.readHeartbeat(() => 0)(server, { signal: new AbortController().signal });
      },
      callbackUrl: `${receiver.url}/heartbeats`,
      deliverReport: (url, report) => deliverCallback(url, report, callbackOptionsFromEnv({}, 'test')),
    };
    const run = { operationId, startedAt: STARTED };
    await runHeartbeatStep(deps, { step: 'heartbeat-plan', run });
    const items = JSON.parse(blobs.objects.get(`runs/heartbeats/${operationId}/shards.json`)!) as ShardItem[];
    for (const item of items) await runHeartbeatStep(deps, { step: 'heartbeat-shard', item });
    const answer = await reportHeartbeat(deps, run);
    const whole = JSON.parse(blobs.objects.get(`runs/heartbeats/${operationId}/report.json`)!);
    return { answer, whole: whole as HeartbeatReport, names: hosts.names };
  }

  function posted() {
    assert.equal(receiver.requests.length, 1, 'one report');
    const request = receiver.requests[0]!;
    assert.equal(request.path, '/heartbeats');
    return { size: Buffer.byteLength(request.body), body: JSON.parse(request.body) };
  }

  it('10,000 unreachable hosts and 20 healthy: cut to 1 MiB, truncated, resultUrl pre-signed on the whole report', async () => {
    blobs.urlOf = async (key) => signed(key);
    const id = 'hb-20261127T120000Z';
    const { answer, whole, names } = await heartbeat(id, 10_020, (i) => i < 10_000);
    assert.equal(answer.callback?.delivered, true);
    const { size, body } = posted();
    assert.ok(size <= MAX_RESULT_BYTES, `${size} bytes`);
    assert.equal(body.truncated, true);
    assert.equal(body.resultUrl, signed(`runs/heartbeats/${id}/report.json`));
    assert.deepEqual(body.summary, whole.summary);
    assert.equal(whole.hosts.length, 10_020, 'the report kept whole');
    assert.equal('truncated' in whole, false);
    // Every host that is not healthy is listed, in the selection's order, with its code.
    const listed = (body.hosts as HostHeartbeat[]).filter((host) => host.status !== 'healthy');
    assert.deepEqual(
      listed.map((host) => host.server),
      names.slice(0, 10_000),
    );
    for (const host of listed) assert.equal(host.error?.code, 'UNREACHABLE');
    // The URL reads the whole report, as kept.
    const key = (body.resultUrl as string).slice(SIGNED.length).split('?')[0]!;
    assert.deepEqual(JSON.parse(blobs.objects.get(key)!), whole);
  });

  it('without a signer: resultUrl names the kept report itself (no API route serves a heartbeat)', async () => {
    const id = 'hb-20261127T120500Z';
    await heartbeat(id, 10_020, (i) => i < 10_000);
    const { size, body } = posted();
    assert.ok(size <= MAX_RESULT_BYTES, `${size} bytes`);
    assert.equal(body.truncated, true);
    assert.equal(body.resultUrl, `s3://runs/runs/heartbeats/${id}/report.json`);
  });

  it('healthy hosts over the limit: every unhealthy one kept, the healthy ones that fit, in order', async () => {
    blobs.urlOf = async (key) => signed(key);
    // A healthy host's answer is ~250 bytes: 6,000 of them are over 1 MiB.
    const { whole } = await heartbeat('hb-healthy', 6_000, (i) => i % 1_000 === 999);
    const { size, body } = posted();
    assert.ok(bytes(whole) > MAX_RESULT_BYTES, 'the whole report is over 1 MiB');
    assert.ok(size <= MAX_RESULT_BYTES, `${size} bytes`);
    assert.equal(body.truncated, true);
    assert.equal(body.resultUrl, signed('runs/heartbeats/hb-healthy/report.json'));
    const hosts = body.hosts as HostHeartbeat[];
    assert.equal(hosts.filter((host) => host.status === 'unreachable').length, 6);
    assert.ok(hosts.length < whole.hosts.length);
    const order = new Map(whole.hosts.map((host, i) => [host.server, i]));
    const positions = hosts.map((host) => order.get(host.server)!);
    assert.deepEqual(
      positions,
      [...positions].sort((a, b) => a - b),
      'in the selection order',
    );
  });

  it('a report that fits goes whole: no truncated, no resultUrl', async () => {
    blobs.urlOf = async (key) => signed(key);
    const { whole } = await heartbeat('hb-small', 30, (i) => i % 3 === 0);
    const { body } = posted();
    assert.equal('truncated' in body, false);
    assert.equal('resultUrl' in body, false);
    assert.deepEqual(body, whole);
  });

  it('fitHeartbeat: cut only when over the limit, and then always with resultUrl', () => {
    const report: HeartbeatReport = {
      operationId: 'hb-unit',
      command: 'heartbeat',
      startedAt: STARTED,
      finishedAt: STARTED,
      summary: { total: 3, healthy: 2, degraded: 0, down: 0, unreachable: 1, failed: 0, skipped: 0 },
      hosts: [
        { server: 'a', status: 'healthy' },
        { server: 'b', status: 'unreachable', error: unreachable('b', 1).toJSON() },
        { server: 'c', status: 'healthy' },
      ],
    };
    const url = signed('runs/heartbeats/hb-unit/report.json');
    assert.equal(fitHeartbeat(report, { resultUrl: url }), report);
    const cut = fitHeartbeat(report, { resultUrl: url, maxBytes: bytes(report) - 1 });
    assert.equal(cut.truncated, true);
    assert.equal(cut.resultUrl, url);
    assert.ok(bytes(cut) <= bytes(report) - 1);
    assert.ok(
      cut.hosts.some((host) => host.server === 'b'),
      'the unreachable host is kept',
    );
  });
});
