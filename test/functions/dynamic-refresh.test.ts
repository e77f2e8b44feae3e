/**
 * SPEC 3.1 (v2): a `[source:NAME]` adds the instances AWS lists "at each run". A warm Lambda
 * container is many runs: its composition root (functions/composition.ts) keeps what a cold start
 * reads (the static inventory, the secrets, the clients) but lists the sources again at each
 * invocation, so a terminated instance leaves and a launched one joins without a cold start. The
 * steps of a run handed a host by a plan made in another container (a heartbeat shard, a fleet
 * run's target) resolve it, and a name that now belongs to another instance reaches that
 * instance. Real handlers and SDK clients against loopback EC2, SSM and S3 endpoints.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as Composition from '../../functions/composition.ts';
import type * as HeartbeatFunction from '../../functions/heartbeat.ts';
import type * as WorkerFunction from '../../functions/worker.ts';
import { type Ec2TestInstance, type Ec2TestServer, startEc2Server } from '../support/ec2-server.ts';
import { useLoopbackEnv } from '../support/loopback.ts';
import { type S3TestServer, startS3Server } from '../support/s3-server.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { type SsmTestServer, startSsmServer, testInstanceId } from '../support/ssm-server.ts';

const BUCKET = 'runs';

describe('a warm function lists its dynamic inventory at each invocation', () => {
  let ec2: Ec2TestServer;
  let ssm: SsmTestServer;
  let s3: S3TestServer;
  let sandbox: Sandbox;
  let dir: string;
  let inventoryFile: string;
  let restore: () => void;
  let composition: typeof Composition;
  let worker: typeof WorkerFunction;
  let heartbeat: typeof HeartbeatFunction;
  const saved = { ...process.env };

  const instance = (n: number, name: string, state: Ec2TestInstance['state'] = 'running') => ({
    instanceId: testInstanceId(n),
    state,
    privateIp: `10.0.0.${n}`,
    tags: { Name: name, Fleet: 'cloudiq' },
  });
  /** Instances AWS lists from now on; the running ones are managed nodes SSM can reach. */
  const launch = (...instances: Ec2TestInstance[]) => {
    ec2.instances = instances;
    for (const { instanceId, state } of instances) {
      if (state === 'running' && !ssm.hasInstance(instanceId)) ssm.addInstance(instanceId);
    }
  };
  const listings = () => ec2.requests.filter((form) => form['Action'] === 'DescribeInstances').length;
  const commandsTo = (instanceId: string) =>
    ssm.sendCommands.filter((body) => body.InstanceIds?.includes(instanceId)).length;

  before(async () => {
    [ec2, ssm, s3] = await Promise.all([
      startEc2Server(),
      startSsmServer({ region: 'eu-west-1' }),
      startS3Server([BUCKET]),
    ]);
    ec2.pageSize = 10;
    sandbox = createSandbox();
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-dynamic-refresh-'));
    inventoryFile = join(dir, 'inventory.ini');
    writeFileSync(
      inventoryFile,
      [
        '[defaults]',
        `config_path = ${sandbox.configPath}`,
        `state_dir = ${sandbox.stateDir}`,
        '',
        '[host:static-1]',
        'transport = local',
        '',
        '[source:aws]',
        'kind = ec2',
        'filters = tag:Fleet=cloudiq',
        '',
      ].join('\n'),
    );
    restore = useLoopbackEnv({ ec2: ec2.endpoint, ssm: ssm.endpoint, s3: s3.endpoint }, 'eu-west-1');
    Object.assign(process.env, {
      INVENTORY_SOURCE: `file:${inventoryFile}`,
      RUNS_BUCKET: BUCKET,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    launch(instance(1, 'old-1'));
    [composition, worker, heartbeat] = await Promise.all([
      import('../../functions/composition.ts'),
      import('../../functions/worker.ts'),
      import('../../functions/heartbeat.ts'),
    ]);
  });

  after(async () => {
    const rt = await composition?.runtime().catch(() => undefined);
    await rt?.fleet.close();
    await Promise.all([ec2.close(), ssm.close(), s3.close()]);
    sandbox.cleanup();
    rmSync(dir, { recursive: true, force: true });
    restore();
    process.env = saved;
  });

  it('a warm invocation drops a terminated instance and adds a launched one; the static part is read once', async () => {
    const first = await composition.runtime();
    assert.deepEqual(first.fleet.select('all'), ['static-1', 'old-1']);
    const deps = await composition.stepDeps(first);
    const before = listings();
    // The static part is read at the cold start only: a changed file is not read again.
    writeFileSync(inventoryFile, '[host:static-2]\ntransport = local\n');
    launch(instance(1, 'old-1', 'terminated'), instance(2, 'new-2'));
    const warm = await composition.runtime();
    assert.equal(listings() - before, 1, 'one listing per invocation');
    // The same runtime (its caches are kept), over the inventory as AWS lists it now.
    assert.equal(warm, first);
    assert.deepEqual(warm.fleet.select('all'), ['static-1', 'new-2']);
    assert.deepEqual(
      warm.fleet.servers().map((server) => [server.name, server.transport]),
      [
        ['static-1', 'local'],
        ['new-2', 'ssm'],
      ],
    );
    // What the steps were given at the first invocation sees it too.
    assert.deepEqual((await composition.stepDeps(warm)).fleet.select('all'), ['static-1', 'new-2']);
    assert.equal((await composition.stepDeps(warm)).fleet, deps.fleet);
    assert.throws(() => warm.fleet.target('old-1'), { code: 'UNKNOWN_SERVER' });
    assert.equal(warm.fleet.target('new-2').transport.kind, 'ssm');
  });

  it('a source that cannot be listed fails that invocation only, never serving the old listing', async () => {
    const rt = await composition.runtime();
    ec2.fault = { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' };
    try {
      await assert.rejects(composition.runtime(), (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'CONFIG_ERROR');
        assert.match((error as Error).message, /\[source:aws\] cannot be listed/);
        return true;
      });
    } finally {
      ec2.fault = undefined;
    }
    launch(instance(2, 'new-2'), instance(3, 'new-3'));
    const next = await composition.runtime();
    assert.equal(next, rt);
    assert.deepEqual(next.fleet.select('all'), ['static-1', 'new-2', 'new-3']);
  });

  it('a heartbeat plan lists afresh, and a shard reads a host its container had not listed', async () => {
    await composition.runtime();
    launch(instance(2, 'new-2'), instance(3, 'new-3'), instance(4, 'new-4'));
    const plan = (await heartbeat.handler({
      step: 'heartbeat-plan',
      run: { operationId: 'hb-refresh', startedAt: new Date().toISOString() },
    })) as { total: number; key: string };
    assert.equal(plan.total, 4);
    const items = JSON.parse(s3.text(BUCKET, plan.key)!) as Array<{ servers: string[] }>;
    assert.deepEqual(
      items.flatMap((item) => item.servers),
      ['static-1', 'new-2', 'new-3', 'new-4'],
    );
    // Another container planned, after new-5 was launched: this one's last listing lacks it.
    launch(instance(2, 'new-2'), instance(3, 'new-3'), instance(4, 'new-4'), instance(5, 'new-5'));
    const sent = commandsTo(testInstanceId(5));
    const shard = {
      operationId: 'hb-refresh',
      shard: 0,
      servers: ['new-5'],
      hostConcurrency: 1,
      hostTimeoutMs: 20_000,
      budgetMs: 25_000,
    };
    await heartbeat.handler({ step: 'heartbeat-shard', item: shard });
    const record = JSON.parse(s3.text(BUCKET, 'runs/heartbeats/hb-refresh/shard-0.json')!);
    assert.equal(record.hosts.length, 1);
    assert.equal(record.hosts[0].status, 'healthy', JSON.stringify(record.hosts[0]));
    assert.ok(commandsTo(testInstanceId(5)) > sent, 'the shard reached new-5 over SSM');
  });

  it('a fleet run plans over the instances listed now, and its target reaches the instance the name has now', async () => {
    await composition.runtime();
    // new-2 is replaced: a new instance carries its name.
    launch(instance(2, 'new-2', 'terminated'), instance(6, 'new-2'));
    const request = { select: 'tag:Fleet=cloudiq', product: 'ghost', version: '1.0.0' };
    const plan = (await worker.handler({
      step: 'plan',
      run: { operationId: 'op-refresh', request, startedAt: new Date().toISOString() },
    })) as { total: number; keys: { targets: string } };
    assert.equal(plan.total, 1);
    const items = JSON.parse(s3.text(BUCKET, plan.keys.targets)!);
    assert.deepEqual(items, [{ server: 'new-2', index: 0 }]);
    const oldSent = commandsTo(testInstanceId(2));
    const newSent = commandsTo(testInstanceId(6));
    const report = (await worker.handler({
      step: 'target',
      operationId: 'op-refresh',
      request,
      maxErrors: 0,
      healthGate: false,
      item: items[0],
    })) as { server: string; status: string; error?: { code: string } };
    assert.equal(report.server, 'new-2');
    // The host answered (it has no product "ghost"): the name resolved, to the instance it has now.
    assert.equal(report.error?.code, 'UNKNOWN_PRODUCT', JSON.stringify(report));
    assert.equal(commandsTo(testInstanceId(2)), oldSent, 'nothing sent to the terminated instance');
    assert.ok(commandsTo(testInstanceId(6)) > newSent, 'the target reached the instance named new-2 now');
  });

  it('a host listed the same keeps its transport across listings; a name that moved gets a new one', async () => {
    const rt = await composition.runtime();
    launch(instance(6, 'new-2'), instance(3, 'new-3'));
    await composition.runtime();
    const kept = rt.fleet.target('new-3');
    const moved = rt.fleet.target('new-2');
    launch(
      instance(6, 'new-2', 'terminated'),
      instance(7, 'new-2'),
      instance(3, 'new-3'),
      instance(8, 'new-8'),
    );
    await composition.runtime();
    assert.deepEqual(rt.fleet.select('all'), ['static-1', 'new-2', 'new-3', 'new-8']);
    assert.equal(rt.fleet.target('new-3'), kept);
    assert.notEqual(rt.fleet.target('new-2').transport, moved.transport);
  });
});
