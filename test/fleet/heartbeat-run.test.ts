// The scheduled fleet heartbeat over a mixed fleet: local sandbox hosts (healthy, degraded, down),
// a real sshd host, an instance behind the loopback SSM server, a host whose shell does not exist
// (unreachable), one that hangs past the per-host timeout, and one with a broken bootstrap.ini.
// Checked: one log line per host (Powertools Logger), the EMF metrics (Powertools Metrics), the
// report POSTed to the callback, and hosts skipped when the invocation's time runs low.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet, type StaticHost } from '../../lib/demo/static-fleet.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import {
  HEARTBEAT_METRICS,
  type HeartbeatLogger,
  type HeartbeatMetrics,
  runFleetHeartbeat,
} from '../../lib/fleet/heartbeat.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSsmTransport, SsmBatcher } from '../../lib/transport/ssm/index.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';
import {
  createTestSsmClient,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
} from '../support/ssm-server.ts';

const run = promisify(execFile);

/** Runs `fn` with this process's stdout and stderr captured: Powertools writes its JSON lines there. */
function captureOutput(fn: () => void): string[] {
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  const lines: string[] = [];
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array) => {
      lines.push(
        ...String(chunk)
          .split('\n')
          .filter((line) => line !== ''),
      );
      return true;
    }) as typeof stream.write;
  }
  try {
    fn();
  } finally {
    streams.forEach((stream, index) => {
      stream.write = originals[index]!;
    });
  }
  return lines;
}

describe('fleet heartbeat over local, ssh and ssm hosts', () => {
  let sshd: SshdHost;
  let ssm: SsmTestServer;
  let ssmClient: SSMClient;
  let receiver: CallbackReceiver;
  let fleet: Fleet;
  let dir = '';
  const sandboxes: Sandbox[] = [];
  const sandbox = (options = {}) => {
    const made = createSandbox(options);
    sandboxes.push(made);
    return made;
  };

  before(async () => {
    const user = await ensureTestUser();
    const ids = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    const owner = { uid: Number(ids[0].stdout.trim()), gid: Number(ids[1].stdout.trim()) };
    [sshd, ssm, receiver] = await Promise.all([startSshd(), startSsmServer(), startCallbackReceiver()]);
    ssmClient = createTestSsmClient(ssm);
    dir = mkdtempSync(join(tmpdir(), 'heartbeat-'));
    const hang = join(dir, 'hanging-sh');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);

    const local = (name: string, box: Sandbox, shell?: string): StaticHost => ({
      groups: ['local'],
      target: box.host(createLocalTransport({ target: name, ...(shell ? { shell } : {}) }), name),
    });
    const degraded = sandbox();
    degraded.setHealthy('deepfiler', false);
    const down = sandbox();
    down.setHealthy('deepfiler', false);
    down.setHealthy('haproxy', false);
    const broken = sandbox();
    broken.writeConfig('[server]\n');
    const overSsh = sandbox(process.getuid?.() === 0 ? { owner } : {});
    const overSsm = sandbox();
    overSsm.setHealthy('haproxy', false);
    const instanceId = testInstanceId(1);
    ssm.addInstance(instanceId);
    const batcher = new SsmBatcher(ssmClient, { windowMs: 10, poll: { initialMs: 10, maxMs: 80 } });

    fleet = createStaticFleet([
      local('web-1', sandbox()),
      local('web-2', degraded),
      local('web-3', down),
      {
        groups: ['remote'],
        target: overSsh.host(sshTransportTo(sshd, { target: 'ssh-1' }), 'ssh-1'),
      },
      {
        groups: ['remote'],
        target: overSsm.host(createSsmTransport({ client: ssmClient, instanceId, batcher }), 'ssm-1'),
      },
      local('ghost', sandbox(), '/nonexistent/bin/sh'),
      local('stuck', sandbox(), hang),
      local('broken', broken),
    ]);
  });

  after(async () => {
    await fleet?.close();
    ssmClient?.destroy();
    await Promise.all([sshd?.stop(), ssm?.close(), receiver?.close()]);
    for (const box of sandboxes) box.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every host, logs one line each, publishes the counts in EMF, and POSTs the report', async () => {
    const powertoolsLogger = new Logger({ serviceName: 'cloudiq-bootstrap-test' });
    const powertoolsMetrics = new Metrics({
      namespace: 'CloudiqBootstrapTest',
      serviceName: 'cloudiq-bootstrap-test',
    });
    const logLines: string[] = [];
    const emfLines: string[] = [];
    // Thin spies: each call goes to Powertools, whose output is captured while it writes.
    const logger: HeartbeatLogger = {
      info: (message, attributes) =>
        logLines.push(...captureOutput(() => powertoolsLogger.info(message, attributes))),
      warn: (message, attributes) =>
        logLines.push(...captureOutput(() => powertoolsLogger.warn(message, attributes))),
    };
    const metrics: HeartbeatMetrics = {
      addMetric: (name, unit, value) => powertoolsMetrics.addMetric(name, unit, value),
      publishStoredMetrics: () =>
        emfLines.push(...captureOutput(() => powertoolsMetrics.publishStoredMetrics())),
    };
    const report = await runFleetHeartbeat({
      fleet,
      concurrency: 4,
      hostTimeoutMs: 4_000,
      logger,
      metrics,
      callbackUrl: `${receiver.url}/heartbeats`,
      deliver: (url, body) => deliverCallback(url, body, callbackOptionsFromEnv({}, 'test')),
    });

    const statuses = Object.fromEntries(report.hosts.map((host) => [host.server, host.status]));
    assert.deepEqual(statuses, {
      'web-1': 'healthy',
      'web-2': 'degraded',
      'web-3': 'down',
      'ssh-1': 'healthy',
      'ssm-1': 'degraded',
      ghost: 'unreachable',
      stuck: 'unreachable',
      broken: 'failed',
    });
    assert.deepEqual(report.summary, {
      total: 8,
      healthy: 2,
      degraded: 2,
      down: 1,
      unreachable: 2,
      failed: 1,
      skipped: 0,
    });
    const byName = Object.fromEntries(report.hosts.map((host) => [host.server, host]));
    assert.equal(byName['ghost']!.error?.code, 'UNREACHABLE');
    assert.equal(byName['stuck']!.error?.code, 'TRANSPORT_TIMEOUT');
    assert.equal(byName['broken']!.error?.code, 'CONFIG_ERROR');
    assert.equal(byName['ssh-1']!.heartbeat?.mode, 'maintenance');
    assert.equal(byName['ssm-1']!.appstack?.products['haproxy']?.status, 'unhealthy');

    const logs = logLines.map((line) => JSON.parse(line));
    assert.equal(logs.length, 8, 'one line per host');
    assert.deepEqual(logs.map((line) => line.server).sort(), Object.keys(statuses).sort());
    for (const line of logs) {
      assert.equal(line.message, 'heartbeat');
      assert.equal(line.service, 'cloudiq-bootstrap-test');
      assert.equal(line.status, statuses[line.server]);
      assert.equal(line.level, line.status === 'healthy' ? 'INFO' : 'WARN');
    }
    assert.deepEqual(logs.find((line) => line.server === 'web-2').unhealthyProducts, ['deepfiler']);
    assert.equal(logs.find((line) => line.server === 'ghost').error.code, 'UNREACHABLE');

    assert.equal(emfLines.length, 1);
    const emf = JSON.parse(emfLines[0]!);
    const directive = emf._aws.CloudWatchMetrics[0];
    assert.equal(directive.Namespace, 'CloudiqBootstrapTest');
    assert.deepEqual(
      directive.Metrics.map((metric: { Name: string; Unit: string }) => [metric.Name, metric.Unit]).sort(),
      Object.values(HEARTBEAT_METRICS)
        .map((name) => [name, 'Count'])
        .sort(),
    );
    assert.equal(emf.HealthyHosts, 2);
    assert.equal(emf.DegradedHosts, 2);
    assert.equal(emf.DownHosts, 1);
    assert.equal(emf.UnreachableHosts, 2);
    assert.equal(emf.FailedHosts, 1);
    assert.equal(emf.SkippedHosts, 0);

    assert.deepEqual(report.callback, { delivered: true, attempts: 1 });
    assert.equal(receiver.requests.length, 1);
    const posted = JSON.parse(receiver.requests[0]!.body);
    assert.equal(receiver.requests[0]!.path, '/heartbeats');
    assert.equal(posted.operationId, report.operationId);
    assert.equal(posted.command, 'heartbeat');
    assert.deepEqual(posted.summary, report.summary);
    assert.equal(posted.hosts.length, 8);
  });

  it('stops starting hosts when the remaining time runs low and reports them skipped', async () => {
    let asked = 0;
    const report = await runFleetHeartbeat({
      fleet,
      select: 'group:local',
      concurrency: 1,
      hostTimeoutMs: 5_000,
      // Plenty of time for the first two hosts, then less than one host's timeout.
      remainingTimeMs: () => (++asked <= 2 ? 60_000 : 7_000),
    });
    assert.deepEqual(
      report.hosts.map((host) => `${host.server}:${host.status}`),
      [
        'web-1:healthy',
        'web-2:degraded',
        'web-3:skipped',
        'ghost:skipped',
        'stuck:skipped',
        'broken:skipped',
      ],
    );
    assert.equal(report.summary.skipped, 4);
    assert.equal(report.callback, undefined);
  });
});
