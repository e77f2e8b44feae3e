// A fleet read over SSM instances behind the loopback SSM server, through the real fleet runner,
// transport and batcher: one SendCommand per 50 hosts whatever the fan-out, and never more
// targets running at once than maxConcurrency (SPEC 3.2, SPEC 4).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { runFleet } from '../../lib/fleet/index.ts';
import { createSsmTransport, SsmBatcher } from '../../lib/transport/ssm/index.ts';
import type { Transport } from '../../lib/transport/types.ts';
import {
  createTestSsmClient,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
} from '../support/ssm-server.ts';

const HOSTS = 200;
// The same text on every host, as a heartbeat's read is; each host pauses for its own time, so
// invocations end (and free their fleet slots) one by one, as real ones do.
const READ = 'sleep "$(cat pause)"; printf "%s\\n" "$AWS_SSM_INSTANCE_ID"';

describe('SSM fleet fan-out', () => {
  let server: SsmTestServer;
  let client: SSMClient;
  let root: string;
  const hosts = new Map<string, Transport>();

  before(async () => {
    server = await startSsmServer();
    client = createTestSsmClient(server);
    root = mkdtempSync(join(tmpdir(), 'cloudiq-ssm-fan-out-'));
    for (let i = 1; i <= HOSTS; i += 1) {
      const dir = join(root, String(i));
      mkdirSync(dir);
      writeFileSync(join(dir, 'pause'), `0.${String((i * 37) % 30).padStart(2, '0')}\n`);
      server.addInstance(testInstanceId(i), { cwd: dir });
    }
  });
  after(async () => {
    client?.destroy();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const fanout of [64, 200]) {
    it(`reads ${HOSTS} instances at fan-out ${fanout} in ceil(${HOSTS}/50) SendCommand calls`, async () => {
      // A fresh batcher per run; the hold is bounded generously so that a loaded machine's slow
      // invocations cannot end it early (its default is 10 s).
      const batcher = new SsmBatcher(client, {
        windowMs: 10,
        maxHoldMs: 120_000,
        poll: { initialMs: 10, maxMs: 80 },
      });
      hosts.clear();
      for (let i = 1; i <= HOSTS; i += 1) {
        hosts.set(`h${i}`, createSsmTransport({ client, instanceId: testInstanceId(i), batcher }));
      }
      let running = 0;
      let peak = 0;
      const sentBefore = server.sendCommands.length;
      const result = await runFleet({
        operationId: 'op_ssmfanout',
        command: 'heartbeat.get',
        targets: [...hosts.keys()],
        maxConcurrency: fanout,
        maxErrors: 0,
        runTarget: async (name, signal) => {
          running += 1;
          peak = Math.max(peak, running);
          try {
            const out = await hosts.get(name)!.exec({ program: READ, timeoutMs: 120_000, signal });
            return { status: 'succeeded', result: out.stdout.trim() };
          } finally {
            running -= 1;
          }
        },
      });
      assert.equal(result.summary.succeeded, HOSTS, JSON.stringify(result.targets.find((t) => 'error' in t)));
      result.targets.forEach((t, i) => {
        assert.deepEqual(t, { server: `h${i + 1}`, status: 'succeeded', result: testInstanceId(i + 1) });
      });
      const sent = server.sendCommands.slice(sentBefore).map((c) => c.InstanceIds?.length ?? 0);
      assert.deepEqual(sent, [50, 50, 50, 50], `instances per SendCommand: ${sent.join(', ')}`);
      assert.ok(peak <= fanout, `peak of running targets ${peak} > maxConcurrency ${fanout}`);
      assert.equal(peak, fanout, 'every slot was used');
      await Promise.all([...hosts.values()].map((t) => t.close()));
    });
  }
});
