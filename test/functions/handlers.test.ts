// The Lambda handlers end to end with their composition root for real: the inventory read from a
// loopback S3, the callback secret from a loopback Secrets Manager, the run store and delivery
// ledger on dynalite, runs started through the real SFNClient at a loopback Step Functions
// endpoint, whose executions the ASL simulation (test/support/asl: Step Functions cannot run
// here) runs from the SYNTHESIZED definitions, invoking the worker and heartbeat handlers as
// Lambda would. The hosts are a dozen real sandboxes (real sh, real hooks) and one unreachable
// host: this is the small end-to-end run beside the 10,000-target simulation of test/cloud/.
// The sample events are AWS's documented examples (test/fixtures/events/).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as ApiFunction from '../../functions/api.ts';
import type * as BatchFunction from '../../functions/batch-upgrade.ts';
import type * as HeartbeatFunction from '../../functions/heartbeat.ts';
import type * as WorkerFunction from '../../functions/worker.ts';
import { heartbeatRunId } from '../../lib/fleet/steps/heartbeat.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { callApi, type FunctionsEnv, localHosts, startFunctionsEnv } from './functions-env.ts';

const SECRET = 'function-callback-secret';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-Xy12Zz';
const HOSTS = Array.from({ length: 12 }, (_, i) => `web-${String(i + 1).padStart(2, '0')}`);
const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'events', name), 'utf8'));

describe('Lambda handlers with their composition root, runs on the simulated state machines', () => {
  let env: FunctionsEnv;
  let api: typeof ApiFunction;
  let worker: typeof WorkerFunction;
  let heartbeat: typeof HeartbeatFunction;
  let batch: typeof BatchFunction;
  const sandboxes = {} as Record<string, Sandbox>;
  const cleanups: (() => void)[] = [];
  let inventoryText = '';

  const call = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
    callApi(api, method, url, body, headers);
  const journalOf = (server: string, id: string) =>
    join(sandboxes[server]!.stateDir, 'operations', `${id}.json`);

  before(async () => {
    env = await startFunctionsEnv({
      callbackSecret: SECRET,
      machines: ['fleet', 'operation', 'heartbeat'],
      secrets: { [SECRET_ARN]: SECRET },
      env: { CALLBACK_SECRET_ARN: SECRET_ARN, MAP_CONCURRENCY_CAP: '4' },
      invoke: {
        WorkerFunction: (payload) => worker.handler(payload),
        HeartbeatFunction: (payload) => heartbeat.handler(payload),
      },
    });
    for (const name of HOSTS) sandboxes[name] = createSandbox();
    // ghost: an SSH host whose port refuses connections (UNREACHABLE), with a real key to offer.
    const keyDir = mkdtempSync(join(tmpdir(), 'cloudiq-ghost-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
    cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }));
    inventoryText = [
      `[host:ghost]\ntransport = ssh\naddress = 127.0.0.1\nport = 9\nuser = nobody\nidentity = ${join(keyDir, 'key')}\nhost_key = SHA256:${'A'.repeat(43)}\ngroups = fleet\n`,
      localHosts(sandboxes, 'edge, fleet'),
    ].join('\n');
    [api, worker, heartbeat, batch] = await Promise.all([
      import('../../functions/api.ts'),
      import('../../functions/worker.ts'),
      import('../../functions/heartbeat.ts'),
      import('../../functions/batch-upgrade.ts'),
    ]);
  });

  after(async () => {
    await env?.close();
    for (const sandbox of Object.values(sandboxes)) sandbox.cleanup();
    for (const cleanup of cleanups) cleanup();
  });

  it('api: an inventory that cannot be read is CONFIG_ERROR (424), and is read again on the next request', async () => {
    const refused = await call('GET', '/servers');
    assert.equal(refused.status, 424);
    assert.equal(refused.body.code, 'CONFIG_ERROR');
    assert.match(refused.body.message, /s3:\/\/config\/inventory\.ini: cannot read the inventory: NoSuchKey/);
    env.peers.s3.put('config', 'inventory.ini', inventoryText);
    assert.equal((await call('GET', '/servers')).status, 200);
  });

  it('api: AWS’s sample HTTP API events (query parameters, cookies, IAM and JWT authorizers, a base64 body)', async () => {
    for (const name of ['http-api-v2.json', 'http-api-v2-iam.json']) {
      const event = fixture(name);
      // Only the route changes: the sample's path and method are not ours.
      event.rawPath = '/servers';
      event.requestContext.http.method = 'GET';
      event.requestContext.http.path = '/servers';
      delete event.body;
      const answer = await api.handler(event);
      assert.equal(answer.statusCode, 200, `${name}: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).servers.length, HOSTS.length + 1, name);
    }
    const event = fixture('http-api-v2-iam.json');
    event.rawPath = '/servers/web-01/mode';
    event.requestContext.http.method = 'PUT';
    event.requestContext.http.path = '/servers/web-01/mode';
    event.headers['content-type'] = 'application/json';
    event.body = Buffer.from(JSON.stringify({ mode: 'drain' })).toString('base64');
    event.isBase64Encoded = true;
    const put = await api.handler(event);
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(JSON.parse(put.body), { mode: 'drain' });
    assert.equal((await call('GET', '/servers/web-01/mode')).body.mode, 'drain');
  });

  it('api: provision answers 202 at once; an execution named by the operation id follows it and calls back once', async () => {
    const body = { role: 'edge', callbackUrl: env.peers.receiver.url };
    const answer = await call('POST', '/servers/web-02/provision', body, {
      'idempotency-key': 'prov-web-02',
    });
    assert.equal(answer.status, 202);
    assert.equal(answer.body.operationId, 'prov-web-02');
    assert.deepEqual(
      env.sfn.calls.map((c) => c.name),
      ['prov-web-02'],
    );
    const again = await call('POST', '/servers/web-02/provision', body, { 'idempotency-key': 'prov-web-02' });
    assert.equal(again.status, 202);
    const [result] = await env.finished();
    assert.equal(result?.status, 'SUCCEEDED', JSON.stringify(result));
    assert.equal(env.executions.length, 1, 'one execution for the repeated request');
    const posts = env.peers.receiver.requests.filter((r) => JSON.parse(r.body).operationId === 'prov-web-02');
    assert.equal(posts.length, 1);
    assert.equal(posts[0]!.signatureValid, true, 'signed with the secret from Secrets Manager');
    const posted = JSON.parse(posts[0]!.body);
    assert.equal(posted.status, 'succeeded');
    assert.equal(posted.targets[0].result.status, 'succeeded');
    assert.equal((await call('GET', answer.headers['location']!)).body.status, 'succeeded');
  });

  it('api: a fleet upgrade over real hosts — the canary replaced, maxErrors exact, the rest never touched, one callback', async () => {
    sandboxes['web-05']!.behave('haproxy', 'upgrade', { exit: 1 });
    const answer = await call('POST', '/fleet/upgrade', {
      select: 'group:fleet',
      product: 'haproxy',
      version: '2.9',
      canary: 1,
      maxErrors: 0,
      maxConcurrency: 2,
      callbackUrl: env.peers.receiver.url,
      operationId: 'rollout-e2e',
    });
    assert.equal(answer.status, 202);
    assert.equal(answer.headers['location'], '/fleet/operations/rollout-e2e');
    const running = await call('GET', '/fleet/operations/rollout-e2e');
    assert.equal(running.status, 200);
    assert.equal(running.body.status, 'running');
    await env.finished();
    const record = await call('GET', '/fleet/operations/rollout-e2e');
    assert.equal(record.body.status, 'partial');
    assert.equal(record.body.failures, 1);
    assert.equal(record.body.resultLocation, `s3://${env.definitions.bucket}/runs/rollout-e2e/result.json`);
    assert.match(record.body.resultUrl, /\/runs\/rollout-e2e\/result\.json\?.*X-Amz-Signature=/);
    const posts = env.peers.receiver.requests.filter((r) => JSON.parse(r.body).operationId === 'rollout-e2e');
    assert.equal(posts.length, 1, 'one callback');
    const result = JSON.parse(posts[0]!.body);
    const status = Object.fromEntries(
      result.targets.map((t: { server: string; status: string }) => [t.server, t.status]),
    );
    assert.equal(status['ghost'], 'unreachable', 'the unreachable canary…');
    assert.equal(status['web-01'], 'succeeded', '…was replaced by the next target');
    assert.equal(status['web-05'], 'failed');
    assert.deepEqual(result.summary.total, HOSTS.length + 1);
    // Never touched: a skipped host has no journal of the run; every other one has.
    for (const server of HOSTS) {
      assert.equal(existsSync(journalOf(server, 'rollout-e2e')), status[server] !== 'skipped', server);
    }
    assert.ok(result.summary.skipped >= HOSTS.length - 7, `the rest was skipped (${result.summary.skipped})`);
    sandboxes['web-05']!.behave('haproxy', 'upgrade', {});
  });

  it('batch-upgrade answers at once with where to follow it; a retry starts nothing new', async () => {
    const executionsBefore = env.executions.length;
    const event = { select: 'web-10,web-11', product: 'deepfiler', version: '4.1', operationId: 'console-1' };
    const first = await batch.handler(event);
    assert.deepEqual(first, {
      operationId: 'console-1',
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:fleet-run:console-1',
      followAt: '/fleet/operations/console-1',
    });
    assert.equal(env.executions.at(-1)!.status, 'RUNNING', 'answered before the run ended');
    assert.deepEqual(await batch.handler(event), first);
    assert.equal(env.executions.length, executionsBefore + 1);
    await env.finished();
    assert.equal((await call('GET', '/fleet/operations/console-1')).body.status, 'succeeded');
    await assert.rejects(batch.handler({ ...event, select: 'web-99', operationId: 'console-2' }), /web-99/);
    await assert.rejects(batch.handler({ product: 'haproxy' }), /select/);
  });

  it('heartbeat: AWS’s scheduled event starts the period’s execution once; its shards read every host', async () => {
    sandboxes['web-03']!.setHealthy('haproxy', false);
    // AWS's event at a time of today (its `time` alone changed): the period's counts are stamped
    // with it, and Powertools warns of a timestamp more than 14 days old (the published 2015 one).
    const time = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const event = { ...fixture('eventbridge-scheduled.json'), time };
    const first = await heartbeat.handler(event);
    const again = await heartbeat.handler(event);
    const period = heartbeatRunId(new Date(time), 300_000);
    assert.match(period, /^hb-\d{8}T\d{4}00Z$/);
    assert.equal((first as { operationId: string }).operationId, period);
    assert.deepEqual(again, { ...first, started: true });
    const [result] = (await env.finished()).slice(-1);
    assert.equal(result?.status, 'SUCCEEDED', JSON.stringify(result));
    assert.equal(env.sfn.executions.size, env.executions.length);
    const report = JSON.parse(
      env.peers.s3.text(env.definitions.bucket, `runs/heartbeats/${period}/report.json`) ?? 'null',
    );
    assert.deepEqual(report.summary, {
      total: HOSTS.length + 1,
      healthy: HOSTS.length - 1,
      degraded: 1,
      down: 0,
      unreachable: 1,
      failed: 0,
      skipped: 0,
    });
  });

  it('worker: a malformed event is refused', async () => {
    await assert.rejects(worker.handler({ step: 'nope' }), /INVALID_REQUEST|worker step/);
    await assert.rejects(heartbeat.handler({ step: 'heartbeat-shard' }), /heartbeat step/);
  });
});
