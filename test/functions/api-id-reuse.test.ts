// SPEC 7.1 "The same operationId sent again answers with the same operation, never a second run",
// 7.3 "starting it twice starts it once", in the cloud: functions/api.ts and
// functions/batch-upgrade.ts with their composition root for real (inventory on a loopback S3,
// run table on dynalite, runs started through the real SFNClient at the loopback Step Functions
// endpoint, executions run by the ASL simulation from the synthesized definitions), over real
// sandbox hosts. One id used on another server, for another command, or for a fleet run is refused
// (INVALID_REQUEST, as `serve` refuses it) before any host is touched or any run started; a start
// refused before it began gives the id back. And batch-upgrade checks `callbackUrl` as
// `POST /fleet/upgrade` does (SPEC 5), before anything starts.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as ApiFunction from '../../functions/api.ts';
import type * as BatchFunction from '../../functions/batch-upgrade.ts';
import type * as WorkerFunction from '../../functions/worker.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { callApi, type FunctionsEnv, localHosts, startFunctionsEnv } from './functions-env.ts';

const HOSTS = ['web-01', 'web-02', 'web-03'];

describe('cloud: one operation id names one run', () => {
  let env: FunctionsEnv;
  let api: typeof ApiFunction;
  let worker: typeof WorkerFunction;
  let batch: typeof BatchFunction;
  const sandboxes = {} as Record<string, Sandbox>;
  const call = (method: string, url: string, body?: unknown, headers?: Record<string, string>) =>
    callApi(api, method, url, body, headers);
  const journal = (server: string, id: string) =>
    existsSync(join(sandboxes[server]!.stateDir, 'operations', `${id}.json`));
  const started = () => env.sfn.calls.map((c) => c.name);
  const key = (id: string) => ({ 'idempotency-key': id });

  before(async () => {
    env = await startFunctionsEnv({
      callbackSecret: 'secret',
      machines: ['fleet', 'operation', 'heartbeat'],
      env: { MAP_CONCURRENCY_CAP: '4' },
      invoke: { WorkerFunction: (payload) => worker.handler(payload) },
    });
    for (const name of HOSTS) sandboxes[name] = createSandbox();
    env.peers.s3.put('config', 'inventory.ini', localHosts(sandboxes));
    [api, worker, batch] = await Promise.all([
      import('../../functions/api.ts'),
      import('../../functions/worker.ts'),
      import('../../functions/batch-upgrade.ts'),
    ]);
  });

  after(async () => {
    await env?.close();
    for (const sandbox of Object.values(sandboxes)) sandbox.cleanup();
  });

  it('a server operation’s id on another server, another command, a fleet run or a batch upgrade is refused; nothing runs', async () => {
    const id = 'shared-op-1';
    const first = await call('POST', '/servers/web-01/provision', { role: 'edge' }, key(id));
    assert.equal(first.status, 202, JSON.stringify(first.body));

    const otherServer = await call('POST', '/servers/web-02/provision', { role: 'edge' }, key(id));
    assert.equal(otherServer.status, 400, JSON.stringify(otherServer.body));
    assert.equal(otherServer.body.code, 'INVALID_REQUEST');
    assert.match(otherServer.body.message, /already used by another request/);
    assert.deepEqual(otherServer.body.details.existing, {
      kind: 'server',
      server: 'web-01',
      command: 'server.provision',
      args: { role: 'edge' },
    });

    const otherCommand = await call(
      'POST',
      '/servers/web-03/products/haproxy/upgrade',
      { version: '9.9' },
      key(id),
    );
    assert.equal(otherCommand.status, 400, JSON.stringify(otherCommand.body));
    assert.equal(otherCommand.body.code, 'INVALID_REQUEST');

    const sameServerOtherCommand = await call(
      'POST',
      '/servers/web-01/products/haproxy/upgrade',
      { version: '9.9' },
      key(id),
    );
    assert.equal(sameServerOtherCommand.status, 400, JSON.stringify(sameServerOtherCommand.body));

    const fleet = await call('POST', '/fleet/upgrade', {
      select: 'web-03',
      product: 'haproxy',
      version: '2.0',
      operationId: id,
    });
    assert.equal(fleet.status, 400, JSON.stringify(fleet.body));
    assert.equal(fleet.body.code, 'INVALID_REQUEST');
    assert.equal(fleet.body.details.existing.kind, 'server');

    await assert.rejects(
      batch.handler({ select: 'web-02', product: 'haproxy', version: '2.0', operationId: id }),
      (error: { code?: string; message?: string }) =>
        error.code === 'INVALID_REQUEST' && /already used by another request/.test(error.message ?? ''),
    );
    assert.equal(
      (await call('GET', `/fleet/operations/${id}`)).status,
      400,
      'the refused batch upgrade recorded no fleet run',
    );

    // The same request again answers the same operation, and starts nothing new.
    const again = await call('POST', '/servers/web-01/provision', { role: 'edge' }, key(id));
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.equal(again.body.operationId, id);
    assert.equal(again.headers['location'], first.headers['location']);

    await env.finished();
    assert.deepEqual(
      [...env.sfn.executions.values()].map((e) => `${e.stateMachineArn.split(':').pop()}:${e.name}`),
      [`operation:${id}`],
      'one execution: no fleet run beside the operation',
    );
    assert.equal(journal('web-01', id), true);
    assert.equal(journal('web-02', id), false, 'web-02 was never touched');
    assert.equal(journal('web-03', id), false, 'web-03 was never touched');
  });

  it('a server operation under the id of a fleet run (API or batch-upgrade) is refused, and so is another upgrade', async () => {
    const id = 'shared-fleet-1';
    const fleet = await call('POST', '/fleet/upgrade', {
      select: 'web-02',
      product: 'haproxy',
      version: '2.0',
      canary: 0,
      healthGate: false,
      operationId: id,
    });
    assert.equal(fleet.status, 202, JSON.stringify(fleet.body));
    const server = await call(
      'POST',
      '/servers/web-03/products/haproxy/upgrade',
      { version: '2.0' },
      key(id),
    );
    assert.equal(server.status, 400, JSON.stringify(server.body));
    assert.equal(journal('web-03', id), false);
    const other = await call('POST', '/fleet/upgrade', {
      select: 'web-02',
      product: 'haproxy',
      version: '3.0',
      operationId: id,
    });
    assert.equal(other.status, 400, JSON.stringify(other.body));
    // The same upgrade from the console answers the same run.
    const same = await batch.handler({
      select: 'web-02',
      product: 'haproxy',
      version: '2.0',
      operationId: id,
    });
    assert.equal(same.operationId, id);

    // A server operation first, then batch-upgrade under its id: refused before anything starts.
    const serverId = 'shared-op-3';
    const upgrade = await call(
      'POST',
      '/servers/web-01/products/haproxy/upgrade',
      { version: '1.1' },
      key(serverId),
    );
    assert.equal(upgrade.status, 202, JSON.stringify(upgrade.body));
    const callsBefore = started().length;
    await assert.rejects(
      batch.handler({ select: 'web-02', product: 'haproxy', version: '1.1', operationId: serverId }),
      /already used by another request/,
    );
    assert.equal(started().length, callsBefore, 'no execution started');
    await env.finished();
    assert.equal(journal('web-02', serverId), false, 'web-02 was never upgraded under that id');
    assert.deepEqual(
      [...env.sfn.executions.values()]
        .map((e) => `${e.stateMachineArn.split(':').pop()}:${e.name}`)
        .filter((name) => !name.endsWith('shared-op-1')),
      [`fleet-run:${id}`, `operation:${serverId}`],
    );
  });

  it('a start refused before it began (UNKNOWN_ROLE) gives the id back', async () => {
    const id = 'given-back-1';
    const refused = await call('POST', '/servers/web-02/provision', { role: 'no-such-role' }, key(id));
    assert.equal(refused.status >= 400, true, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'UNKNOWN_ROLE');
    const accepted = await call('POST', '/servers/web-03/provision', { role: 'edge' }, key(id));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    await env.finished();
    assert.equal(journal('web-03', id), true);
  });

  it('batch-upgrade refuses a callback URL /fleet/upgrade refuses, before anything starts', async () => {
    for (const callbackUrl of ['http://example.com/hook', 'https://169.254.169.254/latest', 'not a url']) {
      const body = { select: 'web-01', product: 'haproxy', version: '2.0', callbackUrl };
      const viaApi = await call('POST', '/fleet/upgrade', body);
      assert.equal(viaApi.status, 400, callbackUrl);
      const callsBefore = started().length;
      await assert.rejects(
        batch.handler({ ...body, operationId: 'bad-callback-1' }),
        (error: { code?: string; message?: string; details?: Record<string, unknown> }) =>
          error.code === viaApi.body.code &&
          error.message === viaApi.body.message &&
          error.details?.['field'] === 'callbackUrl',
        callbackUrl,
      );
      assert.equal(started().length, callsBefore, `nothing started for ${callbackUrl}`);
    }
    assert.equal((await call('GET', '/fleet/operations/bad-callback-1')).status, 400, 'no run recorded');
  });
});
