/**
 * The fleet heartbeat over AWS Systems Manager: many instances of the loopback SSM server
 * (test/support/ssm-server.ts, the real SSMClient pointed at it), each running its scripts in
 * its own host dir. Every host has its files at the same relative paths (`etc/bootstrap.ini`,
 * `state`), as real hosts have theirs at the same absolute paths, so the read program is the same
 * text everywhere and may share `SendCommand` calls (at most 50 instances each). Counts the calls,
 * and measures the `commands` parameter every operation sends (SSM takes at most 64 KB of it;
 * SPEC 3.2's bound is 16 KiB).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { runFleet } from '../lib/fleet/index.ts';
import { newOperationId } from '../lib/operations/ids.ts';
import { runCommand, runHeartbeat } from '../lib/operations/index.ts';
import type { CommandRequest, HostTarget } from '../lib/operations/types.ts';
import { present } from '../lib/optional.ts';
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
  /** The largest `commands` parameter sent, in bytes. */
  maxCommandsBytes: number;
  errors: string[];
}

/** The `commands` sizes one operation sent (UTF-8 bytes of its lines joined by newlines). */
export interface CommandSize {
  operation: string;
  calls: number;
  /** Every call's size, in order. */
  bytes: number[];
  maxBytes: number;
  error?: string;
}

export interface SsmBench {
  run(fanout: number): Promise<SsmRun>;
  /** Every operation once on one instance that has seen nothing yet (then again where it matters). */
  commandSizes(): Promise<CommandSize[]>;
  close(): Promise<void>;
}

/** Starts the SSM server with `count` instances, each with its own provisioned host dir. */
export async function startSsmBench(count: number, parent: string, template: Sandbox): Promise<SsmBench> {
  const server: SsmTestServer = await startSsmServer();
  const client: SSMClient = createTestSsmClient(server);
  try {
    const dirs = await createHostDirs(count, parent, template);
    // The SSM agent runs commands as root, in state it owns; createHostDirs gives the hosts to the
    // SSH login user, whose lib/ a root program must not trust (SPEC 2.2): give them back.
    execFileSync('chown', ['-R', `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`, parent]);
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
    const lastRoot = dirs.at(-1)!.root;
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
        const commandBytes = sent.map(commandsBytes);
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
          maxCommandsBytes: Math.max(0, ...commandBytes),
          errors: result.targets
            .flatMap((t) => ('error' in t ? [`${t.server}: ${t.error.code}`] : []))
            .slice(0, 5),
        };
      },
      async commandSizes() {
        // The last instance: the fleet runs have not touched it when this runs first. Its copy of
        // the template's lib/ goes, so that the first row is a host seen for the first time: the
        // short command relying on the cache (which runs nothing), then the whole program, which
        // caches the code; every later read is the short command alone.
        const host = targets.at(-1)!;
        rmSync(join(lastRoot, 'state', 'lib'), { recursive: true, force: true });
        const upgrade = newOperationId();
        const ops: Array<[string, CommandRequest]> = [
          ['heartbeat.get (first on the host)', { command: 'heartbeat.get' }],
          ['heartbeat.get', { command: 'heartbeat.get' }],
          ['heartbeat.appstack', { command: 'heartbeat.appstack' }],
          ['product.get', { command: 'product.get', product: 'haproxy' }],
          ['server.mode', { command: 'server.mode' }],
          ['server.mode drain', { command: 'server.mode', mode: 'drain' }],
          ['product.set', { command: 'product.set', product: 'haproxy', values: { maxconn: '8192' } }],
          [
            'product.upgrade',
            { command: 'product.upgrade', product: 'deepfiler', version: '3.2.2', operationId: upgrade },
          ],
          ['operation.get', { command: 'operation.get', operationId: upgrade }],
          ['server.provision', { command: 'server.provision', role: 'edge' }],
        ];
        const out: CommandSize[] = [];
        for (const [operation, request] of ops) {
          const before = server.sendCommands.length;
          let error: string | undefined;
          try {
            await runCommand(host, request);
          } catch (e) {
            error = `${(e as { code?: string }).code ?? 'ERROR'}: ${(e as Error).message}`.slice(0, 200);
          }
          const bytes = server.sendCommands.slice(before).map(commandsBytes);
          out.push({
            operation,
            calls: bytes.length,
            bytes,
            maxBytes: Math.max(0, ...bytes),
            ...present({ error }),
          });
        }
        return out;
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

function commandsBytes(body: { Parameters?: Record<string, string[] | undefined> }): number {
  return Buffer.byteLength((body.Parameters?.['commands'] ?? []).join('\n'));
}
