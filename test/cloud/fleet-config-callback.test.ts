// A fleet run on the SYNTHESIZED fleet-run state machine (the ASL simulation: Step Functions
// cannot run here) over the real step handlers, their real cloud peers (dynalite, the loopback S3
// server, a callback receiver) and real hosts (sandboxes through the local transport), its request
// naming no callback URL: the result goes to the hosts' `[server] callback_url` only when every
// host read names the same one (SPEC 5). One host's bootstrap.ini never decides alone where the
// whole fleet's result goes — the plan used to read the first target's.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { cloudBackends, simulatedFleetUpgrade, useCloudSimulation } from './simulation.ts';

describe('a cloud fleet run with no callback URL of its own: the hosts’ callback_url', () => {
  const cloud = useCloudSimulation();
  const sandboxes: Sandbox[] = [];
  const fleets: Fleet[] = [];

  after(async () => {
    for (const fleet of fleets) await fleet.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
  });

  /** A fleet of real hosts, each naming the callback path given (or none). */
  function fleetOf(paths: Array<string | null>): Fleet {
    const fleet = createStaticFleet(
      paths.map((path, i) => {
        const sandbox = createSandbox(
          path === null ? {} : { serverExtra: `callback_url = ${cloud.peers.receiver.url}${path}\n` },
        );
        sandboxes.push(sandbox);
        const name = `host-${i + 1}`;
        return { groups: ['edge'], target: sandbox.host(createLocalTransport({ target: name }), name) };
      }),
    );
    fleets.push(fleet);
    return fleet;
  }

  async function upgrade(fleet: Fleet, operationId: string) {
    const backends = cloudBackends(cloud.peers, cloud.definitions.bucket, () => 0);
    const deps = {
      fleet,
      store: backends.store,
      ledger: backends.ledger,
      blobs: backends.blobs,
      deliver: (url: string, result: FleetResult) =>
        deliverCallback(url, result, {
          ...callbackOptionsFromEnv({}, 'test'),
          backoffBaseMs: 5,
          backoffMaxMs: 10,
        }),
      concurrencyCap: 10,
      stoppedRuns: new Set<string>(),
    };
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warned.push(args.join(' '));
    try {
      const { execution, callbacks } = await simulatedFleetUpgrade(
        { ...cloud, deps, seed: 11 },
        operationId,
        { canary: 1, maxConcurrency: 2, callbackUrl: undefined },
        (_payload, step) => step(),
      );
      return { execution, callbacks, warned };
    } finally {
      console.warn = warn;
    }
  }

  it('every host names the same URL: the result goes there, once', async () => {
    const { execution, callbacks, warned } = await upgrade(
      fleetOf(['/agreed', '/agreed', '/agreed']),
      'op_cfgcb_agree',
    );
    assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
    assert.equal(callbacks.length, 1);
    assert.equal(callbacks[0]!.path, '/agreed');
    const posted = JSON.parse(callbacks[0]!.body);
    assert.equal(posted.summary.succeeded, 3);
    assert.deepEqual(warned, []);
  });

  it('the first host names one URL, another host another: no callback, and a warning', async () => {
    for (const [id, paths] of [
      ['op_cfgcb_other', ['/first', '/first', '/elsewhere']],
      ['op_cfgcb_none', ['/first', null, '/first']],
    ] as const) {
      const { execution, callbacks, warned } = await upgrade(fleetOf([...paths]), id);
      assert.equal(execution.status, 'SUCCEEDED', JSON.stringify(execution));
      assert.deepEqual(callbacks, [], `${id}: no callback`);
      assert.equal(warned.length, 1, id);
      assert.match(warned[0]!, /the hosts disagree on \[server\] callback_url/);
    }
  });
});
