// The Lambda handlers end to end, with their composition root for real: the inventory read from
// a loopback S3, the callback secret from a loopback Secrets Manager, the worker started by an
// asynchronous Invoke that a loopback Lambda turns into a call of the worker's handler, and the
// batch state machine's plan, target and aggregate steps over a loopback runs bucket.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type * as ApiFunction from '../../functions/api.ts';
import type * as BatchFunction from '../../functions/batch-upgrade.ts';
import type * as HeartbeatFunction from '../../functions/heartbeat.ts';
import type * as WorkerFunction from '../../functions/worker.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { type Journal, runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { type LambdaTestServer, startLambdaServer } from '../support/lambda-server.ts';
import { type S3TestServer, startS3Server } from '../support/s3-server.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { type SecretsTestServer, startSecretsServer } from '../support/secrets-server.ts';

const SECRET = 'function-callback-secret';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-Xy12Zz';
const HOSTS = ['web-1', 'web-2', 'web-3'] as const;
const context = (functionName: string) => ({ functionName, getRemainingTimeInMillis: () => 14 * 60_000 });

describe('Lambda handlers with their composition root', () => {
  let s3: S3TestServer;
  let aws: SecretsTestServer;
  let lambda: LambdaTestServer;
  let receiver: CallbackReceiver;
  let api: typeof ApiFunction;
  let worker: typeof WorkerFunction;
  let heartbeat: typeof HeartbeatFunction;
  let batch: typeof BatchFunction;
  const sandboxes = {} as Record<(typeof HOSTS)[number], Sandbox>;
  const running = new Set<Promise<unknown>>();
  const saved = { ...process.env };
  let inventoryText = '';

  const workersIdle = async () => {
    while (running.size > 0) await Promise.allSettled([...running]);
  };
  const call = async (method: string, url: string, body?: unknown) => {
    const result = await api.handler(
      buildHttpEvent({ method, url, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }),
    );
    return { status: result.statusCode, headers: result.headers, body: JSON.parse(result.body) };
  };

  before(async () => {
    [s3, aws, lambda, receiver] = await Promise.all([
      startS3Server(['config', 'runs']),
      startSecretsServer(),
      startLambdaServer(),
      startCallbackReceiver([], { secret: SECRET }),
    ]);
    for (const name of HOSTS) sandboxes[name] = createSandbox();
    const inventory = HOSTS.map(
      (name) =>
        `[host:${name}]\ntransport = local\ngroups = edge\nconfig_path = ${sandboxes[name].configPath}\nstate_dir = ${sandboxes[name].stateDir}\n`,
    ).join('\n');
    aws.secrets.set(SECRET_ARN, SECRET);
    Object.assign(process.env, {
      INVENTORY_SOURCE: 's3://config/inventory.ini',
      CALLBACK_SECRET_ARN: SECRET_ARN,
      WORKER_FUNCTION_NAME: 'cloudiq-worker',
      BATCH_RUNS_BUCKET: 'runs',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    // The handlers' modules read the environment when loaded, as on a cold start.
    [api, worker, heartbeat, batch] = await Promise.all([
      import('../../functions/api.ts'),
      import('../../functions/worker.ts'),
      import('../../functions/heartbeat.ts'),
      import('../../functions/batch-upgrade.ts'),
    ]);
    lambda.functions = new Set(['cloudiq-worker']);
    lambda.onEvent = (invocation) => {
      const work = worker.handler(invocation.event, context(invocation.functionName));
      running.add(work);
      void work.catch(() => {}).finally(() => running.delete(work));
    };
    inventoryText = inventory;
  });

  after(async () => {
    await workersIdle();
    await Promise.all([s3.close(), aws.close(), lambda.close(), receiver.close()]);
    for (const sandbox of Object.values(sandboxes)) sandbox.cleanup();
    process.env = saved;
  });

  it('api: an inventory that cannot be read is CONFIG_ERROR (424), and is read again on the next request', async () => {
    const refused = await call('GET', '/servers');
    assert.equal(refused.status, 424);
    assert.equal(refused.body.code, 'CONFIG_ERROR');
    assert.match(refused.body.message, /s3:\/\/config\/inventory\.ini: cannot read the inventory: NoSuchKey/);
    s3.put('config', 'inventory.ini', inventoryText);
    assert.equal((await call('GET', '/servers')).status, 200);
  });

  it('api: provision is handed to the worker by an asynchronous Invoke, which calls back once, signed', async () => {
    const servers = await call('GET', '/servers');
    assert.equal(servers.status, 200);
    assert.deepEqual(
      servers.body.servers.map((server: { name: string }) => server.name),
      ['web-1', 'web-2', 'web-3'],
    );
    const answer = await call('POST', '/servers/web-1/provision', {
      role: 'edge',
      callbackUrl: receiver.url,
    });
    assert.equal(answer.status, 202);
    assert.equal(lambda.invocations.length, 1);
    assert.equal(lambda.invocations[0]!.invocationType, 'Event');
    assert.deepEqual(lambda.invocations[0]!.event, {
      job: {
        kind: 'server',
        operationId: answer.body.operationId,
        server: 'web-1',
        request: { command: 'server.provision', role: 'edge' },
        callbackUrl: receiver.url,
      },
    });
    await workersIdle();
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0]!.signatureValid, true, 'signed with the secret from Secrets Manager');
    assert.equal(JSON.parse(receiver.requests[0]!.body).status, 'succeeded');
    const journal = await call('GET', answer.headers['location']!);
    assert.equal(journal.body.status, 'succeeded');
  });

  it('api: a fleet upgrade goes to the worker too; batch-upgrade runs one inline and returns the result', async () => {
    const answer = await call('POST', '/fleet/upgrade', {
      select: 'web-1,web-2',
      product: 'haproxy',
      version: '2.8',
      callbackUrl: receiver.url,
    });
    assert.equal(answer.status, 202);
    assert.equal((lambda.invocations.at(-1)!.event as { job: { kind: string } }).job.kind, 'fleet');
    await workersIdle();
    const posted = JSON.parse(receiver.requests.at(-1)!.body);
    assert.equal(posted.operationId, answer.body.operationId);
    assert.deepEqual(posted.summary, { total: 2, succeeded: 2, failed: 0, unreachable: 0, skipped: 0 });
    // Fleet runs are not kept by the Lambda deployment: the callback has them.
    assert.equal((await call('GET', answer.headers['location']!)).status, 400);

    const invocations = lambda.invocations.length;
    const result = (await batch.handler(
      { select: 'web-3', product: 'haproxy', version: '2.8', operationId: 'batch-console-1' },
      context('cloudiq-batch-upgrade'),
    )) as { operationId: string; status: string; summary: { succeeded: number } };
    assert.equal(result.operationId, 'batch-console-1');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.summary.succeeded, 1);
    assert.equal(lambda.invocations.length, invocations, 'run inline, nothing handed over');
    await assert.rejects(
      batch.handler(
        { select: 'web-9', product: 'haproxy', version: '2.8' },
        context('cloudiq-batch-upgrade'),
      ),
      /web-9/,
    );
    await assert.rejects(batch.handler({ product: 'haproxy' }, context('cloudiq-batch-upgrade')), /select/);
  });

  it('heartbeat: every inventory host, summarised', async () => {
    sandboxes['web-3'].setHealthy('haproxy', false);
    const answer = await heartbeat.handler(
      { 'detail-type': 'Scheduled Event', source: 'aws.events' },
      context('hb'),
    );
    assert.deepEqual(answer.summary, {
      total: 3,
      healthy: 2,
      degraded: 1,
      down: 0,
      unreachable: 0,
      failed: 0,
      skipped: 0,
    });
    const some = await heartbeat.handler({ select: 'web-1' }, context('hb'));
    assert.equal(some.summary.total, 1);
  });

  it('worker: the batch state machine steps plan, run targets (handing over) and aggregate with one callback', async () => {
    const operationId = 'batch-sfn-1';
    const request = { select: 'all', product: 'deepfiler', version: '5.0', callbackUrl: receiver.url };
    const plan = (await worker.handler(
      { mode: 'plan', operationId, request, startedAt: '2026-11-25T00:00:00.000Z' },
      context('cloudiq-worker'),
    )) as unknown as {
      runs: Record<string, string>;
      counts: { canary: number; fleet: number };
      healthGate: boolean;
    };
    assert.deepEqual(plan.counts, { canary: 1, fleet: 2 });
    assert.deepEqual(JSON.parse(s3.text('runs', plan.runs['canaryKey']!)!), [{ server: 'web-1', index: 0 }]);
    assert.deepEqual(JSON.parse(s3.text('runs', plan.runs['fleetKey']!)!), [
      { server: 'web-2', index: 1 },
      { server: 'web-3', index: 2 },
    ]);

    const item = (server: string, index: number, phase: string) => ({
      mode: 'target',
      operationId,
      request,
      healthGate: false,
      phase,
      item: { server, index },
    });
    // web-1 with too little time: it answers `running` with a continuation, then finishes.
    const short = { functionName: 'cloudiq-worker', getRemainingTimeInMillis: () => 1_000 };
    const first = (await worker.handler(item('web-1', 0, 'canary'), short)) as {
      status: string;
      continuation: unknown;
    };
    assert.equal(first.status, 'running');
    const canary = await worker.handler(
      { ...item('web-1', 0, 'canary'), continuation: first.continuation },
      context('cloudiq-worker'),
    );
    assert.equal((canary as { status: string }).status, 'succeeded');
    sandboxes['web-2'].behave('deepfiler', 'upgrade', { exit: 4 });
    const failed = (await worker.handler(item('web-2', 1, 'fleet'), context('cloudiq-worker'))) as {
      status: string;
      error: { code: string };
    };
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error.code, 'HOOK_FAILED');
    // web-3 ran, but its Map item left no result (the stage was stopped): its journal tells.
    const web3 = sandboxes['web-3'].host(createLocalTransport(), 'web-3');
    const journal = (await runCommand(web3, {
      command: 'product.upgrade',
      product: 'deepfiler',
      version: '5.0',
      operationId,
    })) as Journal;
    assert.equal(journal.status, 'succeeded');

    // What Step Functions' ResultWriter leaves in the bucket.
    const child = (status: string, answer: unknown, input: unknown) =>
      status === 'SUCCEEDED'
        ? { Status: status, Input: JSON.stringify(input), Output: JSON.stringify(answer) }
        : {
            Status: status,
            Input: JSON.stringify(input),
            Error: 'TargetFailed',
            Cause: JSON.stringify(answer),
          };
    s3.put(
      'runs',
      `${plan.runs['canaryResultsPrefix']}/map-1/SUCCEEDED_0.json`,
      JSON.stringify([child('SUCCEEDED', canary, item('web-1', 0, 'canary'))]),
    );
    s3.put(
      'runs',
      `${plan.runs['canaryResultsPrefix']}/map-1/manifest.json`,
      JSON.stringify({
        ResultFiles: {
          SUCCEEDED: [{ Key: `${plan.runs['canaryResultsPrefix']}/map-1/SUCCEEDED_0.json`, Size: 1 }],
          FAILED: [],
          PENDING: [],
        },
      }),
    );
    s3.put(
      'runs',
      `${plan.runs['fleetResultsPrefix']}/map-2/FAILED_0.json`,
      JSON.stringify([child('FAILED', failed, item('web-2', 1, 'fleet'))]),
    );
    s3.put(
      'runs',
      `${plan.runs['fleetResultsPrefix']}/map-2/manifest.json`,
      JSON.stringify({
        ResultFiles: { FAILED: [{ Key: `${plan.runs['fleetResultsPrefix']}/map-2/FAILED_0.json`, Size: 1 }] },
      }),
    );

    const before = receiver.requests.length;
    const aggregated = (await worker.handler(
      {
        mode: 'aggregate',
        run: {
          operationId,
          request,
          startedAt: '2026-11-25T00:00:00.000Z',
          plan,
          canaryRun: {
            ResultWriterDetails: {
              Bucket: 'runs',
              Key: `${plan.runs['canaryResultsPrefix']}/map-1/manifest.json`,
            },
          },
          stopReason: 'MAX_ERRORS_EXCEEDED',
          error: { Error: 'States.ExceedToleratedFailureThreshold' },
        },
      },
      context('cloudiq-worker'),
    )) as { status: string; summary: unknown; result: { bucket: string; key: string }; callback: unknown };
    assert.equal(aggregated.status, 'partial');
    assert.deepEqual(aggregated.summary, { total: 3, succeeded: 2, failed: 1, unreachable: 0, skipped: 0 });
    assert.deepEqual(aggregated.callback, { delivered: true, attempts: 1 });
    const stored = JSON.parse(s3.text(aggregated.result.bucket, aggregated.result.key)!);
    assert.deepEqual(
      stored.targets.map((target: { server: string; status: string }) => `${target.server}:${target.status}`),
      ['web-1:succeeded', 'web-2:failed', 'web-3:succeeded'],
    );
    assert.equal(stored.startedAt, '2026-11-25T00:00:00.000Z');
    assert.equal(receiver.requests.length, before + 1);
    const { callback: _delivery, ...posted } = stored;
    assert.deepEqual(
      JSON.parse(receiver.requests.at(-1)!.body),
      posted,
      'the stored result is what was POSTed',
    );
  });

  it('worker: a malformed event is refused (and so lands in the failures queue)', async () => {
    await assert.rejects(
      worker.handler({ job: { kind: 'server' } }, context('cloudiq-worker')),
      /worker event/,
    );
  });
});
