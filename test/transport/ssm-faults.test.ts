import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SSMClient, SSMClientConfig } from '@aws-sdk/client-ssm';
import { BootstrapError, type ErrorCode } from '../../lib/errors.ts';
import { createSsmTransport, SsmBatcher } from '../../lib/transport/ssm/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import {
  createTestSsmClient,
  type InstanceFault,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
} from '../support/ssm-server.ts';
import { FAST_POLL, useSsmPeers } from '../support/ssm-suite.ts';

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await sleep(10);
  }
  assert.fail(`never happened: ${what}`);
}

function isCode(code: ErrorCode, details: Record<string, unknown> = {}) {
  return (error: unknown) => {
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, code, error.message);
    for (const [key, value] of Object.entries(details)) assert.equal(error.details[key], value, key);
    return true;
  };
}

describe('ssm transport: every SSM status and fault', () => {
  let server: SsmTestServer;
  let client: SSMClient;
  let batcher: SsmBatcher;
  let next = 1;
  const host = (fault?: InstanceFault, graceMs?: number): Transport => {
    const instanceId = testInstanceId(next++);
    server.addInstance(instanceId).fault = fault;
    return createSsmTransport({
      client,
      instanceId,
      batcher,
      region: server.region,
      ...(graceMs ? { graceMs } : {}),
    });
  };

  useSsmPeers((peers) => {
    ({ server, client, batcher } = peers);
  });

  it('waits through Delayed, then reads the answer', async () => {
    const t = host({ delayedMs: 150 });
    const result = await t.exec({ program: 'echo finally' });
    assert.deepEqual(result, { stdout: 'finally\n', stderr: '', exitCode: 0 });
    const [invocation] = server.invocationsOf(t.target);
    assert.deepEqual(invocation?.history, [
      'Pending/Pending',
      'Delayed/Delayed',
      'InProgress/InProgress',
      'Success/Success',
    ]);
  });

  it('maps Undeliverable to UNREACHABLE with the SSM status in details', async () => {
    const t = host({ undeliverable: true });
    await assert.rejects(
      t.exec({ program: 'echo never' }),
      isCode('UNREACHABLE', { ssmStatus: 'Failed', ssmStatusDetails: 'Undeliverable', server: t.target }),
    );
  });

  it('maps a delivery timeout to UNREACHABLE', async () => {
    await assert.rejects(
      host({ deliveryTimeout: true }).exec({ program: 'echo never' }),
      isCode('UNREACHABLE', { ssmStatus: 'TimedOut', ssmStatusDetails: 'DeliveryTimedOut' }),
    );
  });

  it('maps an execution timeout (SSM enforcing executionTimeout) to TRANSPORT_TIMEOUT', async () => {
    const t = host();
    await assert.rejects(
      t.exec({ program: 'echo started; sleep 20', timeoutMs: 1_000 }),
      isCode('TRANSPORT_TIMEOUT', { ssmStatus: 'TimedOut', ssmStatusDetails: 'ExecutionTimedOut' }),
    );
    assert.equal(server.invocationsOf(t.target)[0]?.responseCode, 137);
  });

  it('maps AccessDenied to AUTH_FAILED, InvalidPlatform and Terminated to UNREACHABLE', async () => {
    const cases: Array<[string, ErrorCode]> = [
      ['AccessDenied', 'AUTH_FAILED'],
      ['InvalidPlatform', 'UNREACHABLE'],
      ['Terminated', 'UNREACHABLE'],
    ];
    const cancels = server.calls['CancelCommand'] ?? 0;
    for (const [details, code] of cases) {
      await assert.rejects(
        host({ final: { status: 'Failed', details } }).exec({ program: 'echo never' }),
        isCode(code, { ssmStatusDetails: details }),
      );
    }
    assert.equal(server.calls['CancelCommand'] ?? 0, cancels, 'a final invocation is never cancelled');
  });

  it('cancels the invocation when the caller aborts, and rejects with TRANSPORT_TIMEOUT', async () => {
    const t = host();
    const controller = new AbortController();
    const cancels = server.calls['CancelCommand'] ?? 0;
    const running = t.exec({ program: 'echo started; sleep 30', signal: controller.signal });
    await waitFor('the program runs', () => server.invocationsOf(t.target)[0]?.status === 'InProgress');
    controller.abort();
    await assert.rejects(running, isCode('TRANSPORT_TIMEOUT', { reason: 'cancelled' }));
    await waitFor('SSM cancels it', () => server.invocationsOf(t.target)[0]?.status === 'Cancelled');
    assert.equal((server.calls['CancelCommand'] ?? 0) - cancels, 1);
    assert.deepEqual(server.invocationsOf(t.target)[0]?.history.slice(-2), [
      'Cancelling/Cancelling',
      'Cancelled/Cancelled',
    ]);
  });

  it('gives up locally when SSM never answers within timeoutMs, and cancels', async () => {
    const t = host({ delayedMs: 60_000 }, 50);
    await assert.rejects(t.exec({ program: 'echo never', timeoutMs: 100 }), isCode('TRANSPORT_TIMEOUT'));
    await waitFor('SSM cancels it', () => server.invocationsOf(t.target)[0]?.status === 'Cancelled');
  });

  it('rejects at once when the signal is already aborted, sending nothing', async () => {
    const sent = server.calls['SendCommand'] ?? 0;
    await assert.rejects(
      host().exec({ program: 'echo no', signal: AbortSignal.abort() }),
      isCode('TRANSPORT_TIMEOUT'),
    );
    assert.equal(server.calls['SendCommand'] ?? 0, sent);
  });

  it('refuses what is not an instance id', () => {
    assert.throws(() => createSsmTransport({ client, instanceId: 'web-1' }), isCode('INVALID_REQUEST'));
  });
});

describe('ssm transport under throttling', () => {
  type Scenario = {
    name: string;
    error: 'ThrottlingException' | 'TooManyUpdates';
    config: SSMClientConfig;
    bigAnswer: boolean;
  };
  const scenarios: Scenario[] = [
    {
      // The adaptive limiter drops to its floor (0.5 requests/s) under such throttling: a small run.
      name: 'ThrottlingException on every second call, with the adaptive retry mode',
      error: 'ThrottlingException',
      config: {},
      bigAnswer: false,
    },
    {
      // Every throttle reaches the transport: its own backoff has to carry the run, paging included.
      name: 'ThrottlingException on every second call, without SDK retries',
      error: 'ThrottlingException',
      config: { retryMode: 'standard', maxAttempts: 1 },
      bigAnswer: true,
    },
    { name: 'TooManyUpdates on every second call', error: 'TooManyUpdates', config: {}, bigAnswer: true },
  ];
  for (const scenario of scenarios) {
    it(`completes with ${scenario.name}`, async () => {
      const server = await startSsmServer({ throttleEvery: 2, throttleError: scenario.error });
      const client = createTestSsmClient(server, scenario.config);
      try {
        const batcher = new SsmBatcher(client, FAST_POLL);
        const hosts = Array.from({ length: 4 }, (_, i) => {
          const instanceId = testInstanceId(i + 1);
          server.addInstance(instanceId);
          return createSsmTransport({ client, instanceId, batcher });
        });
        // Three hosts share a heartbeat; one answers 40 KB of random text, paged in several commands.
        const big = 'head -c 30000 /dev/urandom | base64';
        const heartbeat = 'echo "up $AWS_SSM_INSTANCE_ID"';
        const results = await Promise.all(
          hosts.map((t, i) => t.exec({ program: i === 0 && scenario.bigAnswer ? big : heartbeat })),
        );
        if (scenario.bigAnswer) {
          assert.match(results[0]?.stdout ?? '', /^[A-Za-z0-9+/=\n]{40000,}$/);
          assert.equal(results[0]?.stdout.replace(/\n/g, '').length, 40_000);
        } else {
          assert.equal(results[0]?.stdout, `up ${hosts[0]?.target}\n`);
        }
        results.slice(1).forEach((r, i) => {
          assert.equal(r.stdout, `up ${hosts[i + 1]?.target}\n`);
        });
        const throttled = Object.values(server.throttled).reduce((a, b) => a + b, 0);
        assert.ok(throttled > 0, 'the server throttled');
      } finally {
        client.destroy();
        await server.close();
      }
    });
  }
});
