/**
 * The fleet heartbeat over AWS Systems Manager: many instances of the loopback SSM server
 * (test/support/ssm-server.ts, the real SSMClient pointed at it), each running its scripts in
 * its own host dir. Every host has its files at the same relative paths (`etc/bootstrap.ini`,
 * `state`), as real hosts have theirs at the same absolute paths, so the read program is the same
 * text everywhere and may share `SendCommand` calls (at most 50 instances each). Counts the calls.
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import { runFleet } from '../lib/fleet/index.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import { runHeartbeat } from '../lib/operations/index.ts';
import type { HostTarget } from '../lib/operations/types.ts';
import { createSsmTransport } from '../lib/transport/ssm/index.ts';
import type { Sandbox } from '../test/support/sandbox.ts';
import {
  createTestSsmClient,
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
} from '../test/support/ssm-server.ts';
import { createHostDirs } from './host-dirs.ts';
import { median } from './stats.ts';

export interface SsmRun {
  instances: number;
  /** Hosts read at once; equal to `instances` when all start together. */
  fanout: number;
  succeeded: number;
  wallMs: number;
  sendCommands: number;
  sendCommandsPer50Hosts: number;
  instancesPerCall: { min: number; median: number; max: number };
  /** Every other SSM call (polling and output), all actions together. */
  otherCalls: number;
  errors: string[];
}

export interface SsmBench {
  run(fanout: number): Promise<SsmRun>;
  close(): Promise<void>;
}

/** Starts the SSM server with `count` instances, each with its own provisioned host dir. */
export async function startSsmBench(count: number, parent: string, template: Sandbox): Promise<SsmBench> {
  const server: SsmTestServer = await startSsmServer();
  const client: SSMClient = createTestSsmClient(server);
  try {
    const dirs = await createHostDirs(count, parent, template);
    const targets: HostTarget[] = dirs.map((dir, i) => {
      const instanceId = testInstanceId(i + 1);
      server.addInstance(instanceId, { cwd: dir.root });
      const name = `i${String(i + 1).padStart(3, '0')}`;
      return {
        name,
        transport: createSsmTransport({ client, instanceId, target: name }),
        configPath: 'etc/bootstrap.ini',
        stateDir: 'state',
      };
    });
    const byName = new Map(targets.map((t) => [t.name, t]));
    return {
      async run(fanout) {
        const concurrency = fanout === 0 ? count : fanout;
        const sendBefore = server.sendCommands.length;
        const callsBefore = Object.values(server.calls).reduce((a, b) => a + b, 0);
        const started = performance.now();
        const result = await runFleet({
          operationId: newOperationId(),
          command: 'heartbeat.get',
          targets: targets.map((t) => t.name),
          maxConcurrency: concurrency,
          maxErrors: '100%',
          runTarget: async (server, signal) => ({
            status: 'succeeded',
            result: await runHeartbeat(byName.get(server)!, { signal }),
          }),
        });
        const wallMs = performance.now() - started;
        const sent = server.sendCommands.slice(sendBefore);
        const sizes = sent.map((c) => c.InstanceIds?.length ?? 0);
        const calls = Object.values(server.calls).reduce((a, b) => a + b, 0) - callsBefore;
        return {
          instances: count,
          fanout: concurrency,
          succeeded: result.summary.succeeded,
          wallMs,
          sendCommands: sent.length,
          sendCommandsPer50Hosts: (sent.length * 50) / count,
          instancesPerCall: { min: Math.min(...sizes), median: median(sizes), max: Math.max(...sizes) },
          otherCalls: calls - sent.length,
          errors: result.targets
            .flatMap((t) => ('error' in t ? [`${t.server}: ${t.error.code}`] : []))
            .slice(0, 5),
        };
      },
      async close() {
        await Promise.allSettled(targets.map((t) => t.transport.close()));
        client.destroy();
        await server.close();
      },
    };
  } catch (error) {
    client.destroy();
    await server.close();
    throw error;
  }
}
