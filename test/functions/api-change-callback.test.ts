// SPEC 5 and 7.1 in the cloud: a quick change (`PUT …/mode`, `PATCH …/config`) on a host whose
// bootstrap.ini names `[server] callback_url` calls back there as `serve` does, exactly once (v2),
// without the API function holding its request or working after its answer: it keeps the result
// in the runs bucket and starts a ChangeCallback execution named by the change's operation id,
// whose worker step POSTs it through the delivery ledger (lib/fleet/steps/change.ts).
//
// Everything real but Step Functions: functions/api.ts and functions/worker.ts with their
// composition root (inventory and runs bucket on a loopback S3, the callback secret in a loopback
// Secrets Manager, run table and ledger on dynalite, runs started through the real SFNClient at a
// loopback Step Functions endpoint), executions run by the ASL simulation from the SYNTHESIZED
// definitions, sandbox hosts, and `serve` itself over twin hosts for the body it sends.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as ApiFunction from '../../functions/api.ts';
import type * as CompositionModule from '../../functions/composition.ts';
import type * as WorkerFunction from '../../functions/worker.ts';
import { parseCli } from '../../lib/cli/args.ts';
import { type ServeHandle, startServe } from '../../lib/cli/serve.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import { VERSION } from '../../lib/version.ts';
import { simulatedS3 } from '../cloud/simulation.ts';
import { type Execution, routeByLogicalId, SimulatedStepFunctions } from '../support/asl/index.ts';
import type { ReceivedRequest } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import type { StartedExecution } from '../support/sfn-server.ts';
import { callApi, type FunctionsEnv, localHosts, MACHINES, startFunctionsEnv } from './functions-env.ts';

const SECRET = 'quick-change-callback-secret';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-Qc42Zz';
/** A link-local callback_url (IMDS): SPEC 5's guard refuses it whatever CALLBACK_ALLOW_PRIVATE says. */
const IMDS_URL = 'http://169.254.169.254/latest/meta-data/';

function deferred() {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('cloud: a quick change calls back to callback_url as serve does, once', () => {
  let env: FunctionsEnv;
  let api: typeof ApiFunction;
  let worker: typeof WorkerFunction;
  let composition: typeof CompositionModule;
  let serve: ServeHandle;
  let serveDir = '';
  const sandboxes: Record<string, Sandbox> = {};
  const twins: Record<string, Sandbox> = {};
  /** What the worker's invocations by the simulated state machines wait for (open by default). */
  let gate = Promise.resolve();
  /** Armed: the next change-deliver invocation runs, then fails as a Lambda that died after its POST. */
  let failAfterDelivery = false;

  const call = async (method: string, url: string, body?: unknown) => {
    const answer = await callApi(api, method, url, body, { 'content-type': 'application/json' });
    return { status: answer.status, body: answer.body };
  };
  const posts = (path: string, operationId?: string) =>
    env.peers.receiver.requests.filter(
      (r) => r.path === path && (operationId === undefined || JSON.parse(r.body).operationId === operationId),
    );
  const changeObjects = () =>
    [...(env.peers.s3.buckets.get(env.definitions.bucket)?.keys() ?? [])].filter((key) =>
      key.endsWith('/change.json'),
    );
  const executionNamed = (name: string): StartedExecution | undefined =>
    [...env.sfn.executions.values()].find((e) => e.name === name);
  /** A body with what differs between two runs of one change made alike: id, times, hosts' folders. */
  const shape = (body: string, operationId: string) => {
    let text = body.replaceAll(operationId, 'OPERATION_ID');
    for (const sandbox of [...Object.values(sandboxes), ...Object.values(twins)]) {
      text = text.replaceAll(sandbox.root, 'SANDBOX');
    }
    return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME');
  };

  /** The same change through `serve`, on a twin host of the same name: the callback it sends. */
  const throughServe = async (method: string, path: string, body: unknown) => {
    const before = posts('/serve').length;
    const response = await fetch(`${serve.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = { status: response.status, body: await response.json() };
    // serve delivers in the background, after its answer.
    for (let i = 0; i < 200 && posts('/serve').length === before; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const sent = posts('/serve').slice(before);
    assert.equal(sent.length, 1, 'serve sent one callback');
    return { answer, post: sent[0]! };
  };

  /**
   * The change through the API function: its answer, the one ChangeCallback execution it started
   * (named by the operation id, its input the id, server and URL), and what the receiver got.
   */
  const throughCloud = async (method: string, path: string, body: unknown, server: string) => {
    const calls = env.sfn.calls.length;
    const answer = await call(method, path, body);
    const started = env.sfn.calls.slice(calls);
    assert.equal(started.length, 1, 'one execution started before the answer');
    const operationId = started[0]!.name;
    assert.match(operationId, /^op_/);
    assert.equal(executionNamed(operationId)?.stateMachineArn, MACHINES.change);
    const input = JSON.parse(started[0]!.input);
    assert.deepEqual(input, { operationId, server, callbackUrl: input.callbackUrl });
    assert.ok(!started[0]!.input.includes(SECRET), 'the callback secret is in the execution input');
    const kept = env.peers.s3.text(env.definitions.bucket, `runs/${operationId}/change.json`);
    assert.ok(kept, 'the result is kept in the runs bucket');
    assert.ok(!kept.includes(SECRET), 'the callback secret is in the kept result');
    return { answer, operationId, input };
  };

  /** What a ChangeCallback execution's Deliver step answered (its `$.delivered`). */
  const deliveredBy = (result: Awaited<ReturnType<Execution['result']>> | undefined) => {
    assert.ok(result?.output, JSON.stringify(result));
    return (result.output as { delivered: { operationId: string; callback: Record<string, unknown> } })
      .delivered;
  };

  /** The one callback of `operationId`, signed as SPEC 5 says. */
  const oneSignedCallback = (path: string, operationId: string): ReceivedRequest => {
    const sent = posts(path, operationId);
    assert.equal(sent.length, 1, `one callback for ${operationId}`);
    const post = sent[0]!;
    assert.equal(post.method, 'POST');
    assert.equal(post.signatureValid, true, 'signed with the secret from Secrets Manager');
    assert.equal(post.headers['content-type'], 'application/json');
    assert.equal(post.headers['user-agent'], `cloudiq-bootstrap/${VERSION}`);
    assert.equal(post.headers['idempotency-key'], operationId);
    return post;
  };

  before(async () => {
    env = await startFunctionsEnv({
      callbackSecret: SECRET,
      machines: ['fleet', 'operation', 'heartbeat', 'change'],
      secrets: { [SECRET_ARN]: SECRET },
      env: { CALLBACK_SECRET_ARN: SECRET_ARN },
      invoke: {
        WorkerFunction: async (payload) => {
          await gate;
          const step = (payload as { step?: string }).step;
          const answer = await worker.handler(payload);
          if (step === 'change-deliver' && failAfterDelivery) {
            failAfterDelivery = false;
            throw Object.assign(new Error('Task timed out after its POST'), { name: 'Sandbox.Timedout' });
          }
          return answer;
        },
      },
    });
    sandboxes['cfg-1'] = createSandbox({ serverExtra: `callback_url = ${env.peers.receiver.url}/cloud\n` });
    sandboxes['plain'] = createSandbox();
    sandboxes['imds'] = createSandbox({ serverExtra: `callback_url = ${IMDS_URL}\n` });
    twins['cfg-1'] = createSandbox({ serverExtra: `callback_url = ${env.peers.receiver.url}/serve\n` });
    env.peers.s3.put('config', 'inventory.ini', localHosts(sandboxes));
    [api, worker, composition] = await Promise.all([
      import('../../functions/api.ts'),
      import('../../functions/worker.ts'),
      import('../../functions/composition.ts'),
    ]);

    // `serve` over the twin host, signing with the same secret (CALLBACK_SECRET, as it reads it).
    serveDir = mkdtempSync(join(tmpdir(), 'change-callback-serve-'));
    const file = join(serveDir, 'inventory.ini');
    writeFileSync(file, localHosts(twins));
    const quiet = () => {};
    serve = await startServe(parseCli(['serve', '--port', '0', '--inventory', file]).options, {
      stdout: quiet,
      stderr: quiet,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', CALLBACK_SECRET: SECRET },
      stderrIsTty: false,
    });
  });

  after(async () => {
    gate = Promise.resolve();
    await env?.close();
    await serve?.close();
    for (const sandbox of [...Object.values(sandboxes), ...Object.values(twins)]) sandbox.cleanup();
    if (serveDir) rmSync(serveDir, { recursive: true, force: true });
  });

  it('PUT …/mode: answered before its callback, then one signed callback, the body serve sends', async () => {
    // The worker is held: the API must answer with the delivery still to come.
    const held = deferred();
    gate = held.promise;
    const cloud = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'drain' }, 'cfg-1');
    assert.equal(cloud.answer.status, 200, JSON.stringify(cloud.answer.body));
    assert.deepEqual(cloud.answer.body, { mode: 'drain' });
    assert.equal(cloud.input.callbackUrl, `${env.peers.receiver.url}/cloud`);
    assert.equal(posts('/cloud', cloud.operationId).length, 0, 'nothing POSTed before the answer');
    assert.equal(env.executions.at(-1)!.status, 'RUNNING');
    held.open();
    gate = Promise.resolve();
    const [result] = (await env.finished()).slice(-1);
    assert.equal(result?.status, 'SUCCEEDED', JSON.stringify(result));
    const post = oneSignedCallback('/cloud', cloud.operationId);
    const body = JSON.parse(post.body) as FleetResult;
    assert.equal(body.command, 'server.mode');
    assert.deepEqual(body.args, { mode: 'drain' });
    assert.equal(body.status, 'succeeded');
    assert.deepEqual(body.summary, { total: 1, succeeded: 1, failed: 0, unreachable: 0, skipped: 0 });
    assert.deepEqual(body.targets, [{ server: 'cfg-1', status: 'succeeded', result: { mode: 'drain' } }]);
    assert.equal(body.callback, undefined, 'the body is the result, without a delivery record');

    const local = await throughServe('PUT', '/servers/cfg-1/mode', { mode: 'drain' });
    assert.deepEqual(local.answer, cloud.answer);
    assert.equal(local.post.signatureValid, true);
    const localId = JSON.parse(local.post.body).operationId;
    assert.equal(shape(post.body, cloud.operationId), shape(local.post.body, localId));
    assert.equal(local.post.headers['user-agent'], post.headers['user-agent']);
  });

  it('PATCH …/config, and a refused change: one signed callback each, the body serve sends', async () => {
    const cloud = await throughCloud(
      'PATCH',
      '/servers/cfg-1/products/haproxy/config',
      { maxconn: '512', motd: `it's "quoted" $(x)` },
      'cfg-1',
    );
    assert.equal(cloud.answer.status, 200, JSON.stringify(cloud.answer.body));
    await env.finished();
    const post = oneSignedCallback('/cloud', cloud.operationId);
    const body = JSON.parse(post.body) as FleetResult;
    assert.equal(body.command, 'product.set');
    assert.deepEqual(body.args, {
      product: 'haproxy',
      values: { maxconn: '512', motd: `it's "quoted" $(x)` },
    });
    assert.deepEqual(body.targets[0], { server: 'cfg-1', status: 'succeeded', result: cloud.answer.body });
    const local = await throughServe('PATCH', '/servers/cfg-1/products/haproxy/config', {
      maxconn: '512',
      motd: `it's "quoted" $(x)`,
    });
    assert.equal(local.answer.status, 200);
    assert.equal(
      shape(post.body, cloud.operationId),
      shape(local.post.body, JSON.parse(local.post.body).operationId),
    );

    // A change the host refuses is a failed target in the callback, as serve sends it; still 422 here.
    const refused = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'party' }, 'cfg-1');
    assert.equal(refused.answer.status, 422);
    assert.equal(refused.answer.body.code, 'INVALID_MODE');
    await env.finished();
    const failed = oneSignedCallback('/cloud', refused.operationId);
    const failedBody = JSON.parse(failed.body) as FleetResult;
    assert.equal(failedBody.status, 'failed');
    assert.equal(failedBody.targets[0]?.status, 'failed');
    const localRefused = await throughServe('PUT', '/servers/cfg-1/mode', { mode: 'party' });
    assert.equal(localRefused.answer.status, 422);
    assert.equal(
      shape(failed.body, refused.operationId),
      shape(localRefused.post.body, JSON.parse(localRefused.post.body).operationId),
    );
  });

  it('a redelivered start, event or step delivers nothing twice', async () => {
    const cloud = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'active' }, 'cfg-1');
    assert.equal(cloud.answer.status, 200);
    const [first] = (await env.finished()).slice(-1);
    assert.equal(first?.status, 'SUCCEEDED', JSON.stringify(first));
    oneSignedCallback('/cloud', cloud.operationId);
    const count = env.peers.receiver.requests.length;

    // The worker's event delivered again (Lambda's at-least-once, Step Functions running the step again).
    const again = await worker.handler({ step: 'change-deliver', run: cloud.input });
    assert.deepEqual(again, {
      operationId: cloud.operationId,
      status: 'succeeded',
      callback: { delivered: true, attempts: 1 },
    });
    // A second execution over the same input (a start that Step Functions did not fold into the first).
    const redelivered = new SimulatedStepFunctions({
      s3: simulatedS3(env.peers, env.definitions),
      invoke: routeByLogicalId({ WorkerFunction: (payload) => worker.handler(payload) }),
    })
      .startExecution({ definition: env.definitions.change, name: cloud.operationId, input: cloud.input })
      .result();
    assert.equal((await redelivered).status, 'SUCCEEDED');
    // The API's hand-off repeated: the execution's name starts nothing new.
    const kept = JSON.parse(
      env.peers.s3.text(env.definitions.bucket, `runs/${cloud.operationId}/change.json`)!,
    );
    const executionsBefore = env.executions.length;
    await composition.startChangeCallback(await composition.runtime(), cloud.input.callbackUrl, kept);
    assert.equal(env.executions.length, executionsBefore, 'no second execution under the same name');
    await env.finished();
    assert.equal(env.peers.receiver.requests.length, count, 'nothing POSTed again');

    // A step that POSTed, then failed (its Lambda timed out): Step Functions runs it again.
    failAfterDelivery = true;
    const retried = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'maintenance' }, 'cfg-1');
    const [result] = (await env.finished()).slice(-1);
    assert.equal(failAfterDelivery, false, 'the step failed once');
    assert.equal(result?.status, 'SUCCEEDED', JSON.stringify(result));
    assert.deepEqual(deliveredBy(result), {
      operationId: retried.operationId,
      status: 'succeeded',
      callback: { delivered: true, attempts: 1 },
    });
    oneSignedCallback('/cloud', retried.operationId);
  });

  it('only a host that names callback_url has anything written or started', async () => {
    const calls = env.sfn.calls.length;
    const objects = changeObjects().length;
    const requests = env.peers.receiver.requests.length;
    const plain = await call('PUT', '/servers/plain/mode', { mode: 'drain' });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.deepEqual(plain.body, { mode: 'drain' });
    const patch = await call('PATCH', '/servers/plain/products/deepfiler/config', { threads: '8' });
    assert.equal(patch.status, 200, JSON.stringify(patch.body));
    // A read changes nothing and calls back to no one, on any host.
    assert.equal((await call('GET', '/servers/cfg-1/mode')).status, 200);
    await env.finished();
    assert.equal(env.sfn.calls.length, calls, 'no execution started');
    assert.equal(changeObjects().length, objects, 'nothing written to the runs bucket');
    assert.equal(env.peers.receiver.requests.length, requests, 'no callback');

    // The same change on a host that names one: one execution, one object, one callback.
    const named = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'drain' }, 'cfg-1');
    await env.finished();
    assert.equal(env.sfn.calls.length, calls + 1);
    assert.equal(changeObjects().length, objects + 1);
    oneSignedCallback('/cloud', named.operationId);
  });

  it('a hand-off that fails leaves the answer the change’s; the next change calls back', async () => {
    // The runs bucket refuses the result (NoSuchBucket): nothing is started, the change stands.
    const runs = env.peers.s3.buckets.get(env.definitions.bucket)!;
    env.peers.s3.buckets.delete(env.definitions.bucket);
    const calls = env.sfn.calls.length;
    const requests = env.peers.receiver.requests.length;
    let answer: Awaited<ReturnType<typeof call>>;
    try {
      answer = await call('PUT', '/servers/cfg-1/mode', { mode: 'active' });
    } finally {
      env.peers.s3.buckets.set(env.definitions.bucket, runs);
    }
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, { mode: 'active' });
    assert.equal((await call('GET', '/servers/cfg-1/mode')).body.mode, 'active');
    await env.finished();
    assert.equal(env.sfn.calls.length, calls, 'nothing started without the kept result');
    assert.equal(env.peers.receiver.requests.length, requests);
    const next = await throughCloud('PUT', '/servers/cfg-1/mode', { mode: 'drain' }, 'cfg-1');
    await env.finished();
    oneSignedCallback('/cloud', next.operationId);
  });

  it('the SSRF guard holds: a link-local callback_url is refused, never reached, and recorded', async () => {
    const cloud = await throughCloud('PUT', '/servers/imds/mode', { mode: 'drain' }, 'imds');
    assert.equal(cloud.answer.status, 200);
    assert.equal(cloud.input.callbackUrl, IMDS_URL);
    const [result] = (await env.finished()).slice(-1);
    assert.equal(result?.status, 'SUCCEEDED', JSON.stringify(result));
    const delivered = deliveredBy(result);
    assert.equal(delivered.operationId, cloud.operationId);
    assert.equal(delivered.callback['delivered'], false);
    assert.equal(delivered.callback['attempts'], 0, 'refused before any attempt');
    assert.match(String(delivered.callback['lastError']), /refused/);
  });
});
