import { assertName } from '../config/names.ts';
import { renderRead } from '../host/programs.ts';
import { heartbeatAppstack, heartbeatGet } from './heartbeat.ts';
import { followOperation, operationGet, startLong } from './long.ts';
import { productGet, productSet } from './product.ts';
import { serverModeGet, serverModeSet } from './server-mode.ts';
import { readSnapshot } from './snapshot.ts';
import type { CommandRequest, HostTarget, RunOptions } from './types.ts';

export type { AppstackAnswer, HeartbeatAnswer } from './heartbeat.ts';
export type { Journal } from './journal.ts';
export type { DryRun } from './quick-write.ts';
export * from './types.ts';

/**
 * Runs one bootstrap command on one host and returns SPEC 2.5.1's JSON for it (or, with
 * `dryRun`, the program that would run). Failures throw a BootstrapError with SPEC 2.6's code.
 */
export async function runCommand(
  host: HostTarget,
  request: CommandRequest,
  options: RunOptions = {},
): Promise<unknown> {
  switch (request.command) {
    case 'product.get': {
      assertName('product', request.product);
      // Only bootstrap.ini and this product's file (SPEC 2.5.1's answer needs nothing else).
      const read = { products: [request.product] };
      if (options.dryRun) return dryRead(host, read);
      const snapshot = await readSnapshot(host, read, options);
      return productGet(snapshot, host, request.product, request.key);
    }
    case 'product.set':
      assertName('product', request.product);
      return productSet(host, request.product, request.values, options);
    case 'server.mode': {
      if (request.mode !== undefined) {
        assertName('mode', request.mode);
        return serverModeSet(host, request.mode, options);
      }
      if (options.dryRun) return dryRead(host);
      return serverModeGet(await readSnapshot(host, {}, options));
    }
    case 'server.provision':
    case 'product.upgrade': {
      if (request.command === 'server.provision' && request.role !== undefined)
        assertName('role', request.role);
      if (request.command === 'product.upgrade') assertName('product', request.product);
      const started = await startLong(host, request, options);
      if ('dryRun' in started || options.detach || started.status !== 'running') return started;
      return followOperation(host, started.id, options);
    }
    case 'heartbeat.get': {
      if (options.dryRun) return dryRead(host, { lock: true, newestJournal: true });
      const snapshot = await readSnapshot(host, { lock: true, newestJournal: true }, options);
      return heartbeatGet(host, snapshot);
    }
    case 'heartbeat.appstack': {
      if (options.dryRun) return dryRead(host, { checks: true });
      const snapshot = await readSnapshot(host, { checks: true }, options);
      return heartbeatAppstack(host, snapshot, options);
    }
    case 'operation.get':
      return operationGet(host, request.operationId, options);
  }
}

/** Both heartbeats from one read of the host (the API's and the fleet heartbeat's unit of work). */
export async function runHeartbeat(host: HostTarget, options: RunOptions = {}) {
  const snapshot = await readSnapshot(host, { lock: true, newestJournal: true, checks: true }, options);
  return {
    heartbeat: heartbeatGet(host, snapshot),
    appstack: await heartbeatAppstack(host, snapshot, options),
  };
}

function dryRead(host: HostTarget, plan = {}) {
  return { dryRun: true as const, server: host.name, program: renderRead(host, plan) };
}
