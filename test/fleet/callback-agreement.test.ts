// SPEC 5 over a fleet: `[server] callback_url` is each host's own. A fleet run's result carries
// every target's result, so one host's bootstrap.ini must not decide where it goes (and have it
// signed with CALLBACK_SECRET): a fleet run uses the hosts' callback_url only when every target
// whose file was read names the same one; otherwise none, with a warning that they disagree. A
// request's own URL always wins. Both in-process drivers: the CLI's (runFleetOperation) and
// `serve`'s (createLocalRuns).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createLocalRuns } from '../../lib/fleet/local-runs.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../../lib/fleet/run-store.ts';
import { runFleetOperation } from '../../lib/orchestrate/run.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

describe('a fleet run and the hosts’ callback_url', () => {
  let receiver: CallbackReceiver;
  const sandboxes: Sandbox[] = [];
  let fleet: Fleet;
  const options = { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5, backoffMaxMs: 10 };
  const deliver = (url: string, result: FleetResult) => deliverCallback(url, result, options);

  before(async () => {
    receiver = await startCallbackReceiver([]);
    const hosts: [string, string, string | undefined][] = [
      // Two that agree, one that names another URL (a compromised host), one that names none.
      ['a-secret', 'agree', `${receiver.url}/shared`],
      ['b-secret', 'agree', `${receiver.url}/shared`],
      ['c-compromised', 'steal', `${receiver.url}/steal`],
      ['d-plain', 'plain', undefined],
    ];
    fleet = createStaticFleet(
      hosts.map(([name, group, url]) => {
        const sandbox = createSandbox(url === undefined ? {} : { serverExtra: `callback_url = ${url}\n` });
        sandboxes.push(sandbox);
        return {
          groups: [group, 'all-of-them'],
          target: sandbox.host(createLocalTransport({ target: name }), name),
        };
      }),
    );
  });
  after(async () => {
    await fleet.close();
    for (const sandbox of sandboxes) sandbox.cleanup();
    await receiver.close();
  });

  const request = { command: 'product.set', product: 'haproxy', values: { maxconn: '7' } } as const;
  const paths = (from: number) => receiver.requests.slice(from).map((r) => r.path);

  it('CLI driver: hosts that disagree get no callback, and a warning says so', async () => {
    for (const select of ['a-secret,c-compromised', 'a-secret,d-plain', 'all']) {
      const from = receiver.requests.length;
      const warnings: string[] = [];
      const result = await runFleetOperation(
        { fleet, deliver, warn: (message) => warnings.push(message) },
        { select, request, maxErrors: '100%' },
      );
      assert.equal(result.status, 'succeeded', select);
      assert.equal(result.callback, undefined, select);
      assert.deepEqual(paths(from), [], `${select}: POSTed ${paths(from).join(', ')}`);
      assert.equal(warnings.length, 1, select);
      assert.match(warnings[0]!, /disagree on \[server\] callback_url/);
    }
  });

  it('CLI driver: hosts that agree get it; the request’s URL wins over theirs', async () => {
    const from = receiver.requests.length;
    const warnings: string[] = [];
    const agreed = await runFleetOperation(
      { fleet, deliver, warn: (message) => warnings.push(message) },
      { select: 'group:agree', request },
    );
    assert.deepEqual(agreed.callback, { delivered: true, attempts: 1 });
    const named = await runFleetOperation(
      { fleet, deliver, warn: (message) => warnings.push(message) },
      { select: 'all', request, callbackUrl: `${receiver.url}/named`, maxErrors: '100%' },
    );
    assert.deepEqual(named.callback, { delivered: true, attempts: 1 });
    assert.deepEqual(paths(from), ['/shared', '/named']);
    assert.equal(JSON.parse(receiver.requests.at(-2)!.body).summary.total, 2);
    assert.deepEqual(warnings, []);
  });

  it('serve’s driver: the same rule for a fleet upgrade, the warning in its log', async () => {
    const log: string[] = [];
    const runs = createLocalRuns({
      fleet,
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      deliver,
      log: (line) => log.push(line),
    });
    const job = (operationId: string, select: string) => ({
      kind: 'fleet' as const,
      operationId,
      select,
      product: 'haproxy',
      version: '2.0',
      canary: 0,
      healthGate: false,
      maxErrors: '100%',
    });
    const from = receiver.requests.length;
    await runs.dispatch(job('op_agree_disagree', 'all'));
    await runs.idle();
    assert.deepEqual(paths(from), []);
    assert.equal(log.length, 1, log.join('\n'));
    assert.match(log[0]!, /op_agree_disagree: the hosts disagree on \[server\] callback_url/);

    await runs.dispatch(job('op_agree_agree', 'group:agree'));
    await runs.idle();
    assert.deepEqual(paths(from), ['/shared']);
    assert.equal(log.length, 1);
  });
});
