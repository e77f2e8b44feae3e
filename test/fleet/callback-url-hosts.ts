import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { FleetResult } from '../../lib/fleet/aggregate.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

export interface CallbackUrlHosts {
  receiver: CallbackReceiver;
  /** cfg-1's and plain's sandboxes, in that order. */
  sandboxes: Sandbox[];
  /** cfg-1 and plain, both in group edge. */
  fleet: Fleet;
  /** Delivers a result as the runs do, with short back-offs. */
  deliver: (url: string, result: FleetResult) => ReturnType<typeof deliverCallback>;
  /** Closes the fleet, removes the sandboxes, stops the receiver. */
  close(): Promise<void>;
}

/**
 * Two sandbox hosts for SPEC 2.1's `[server] callback_url` and a callback receiver: cfg-1 names a
 * callback_url (the receiver's `/configured`); plain names none.
 */
export async function startCallbackUrlHosts(): Promise<CallbackUrlHosts> {
  const receiver = await startCallbackReceiver([]);
  const sandboxes = [
    createSandbox({ serverExtra: `callback_url = ${receiver.url}/configured\n` }),
    createSandbox(),
  ];
  const fleet = createStaticFleet(
    ['cfg-1', 'plain'].map((name, i) => ({
      groups: ['edge'],
      target: sandboxes[i]!.host(createLocalTransport({ target: name }), name),
    })),
  );
  const options = { ...callbackOptionsFromEnv({}, 'test'), backoffBaseMs: 5, backoffMaxMs: 10 };
  return {
    receiver,
    sandboxes,
    fleet,
    deliver: (url, result) => deliverCallback(url, result, options),
    close: async () => {
      await fleet.close();
      for (const sandbox of sandboxes) sandbox.cleanup();
      await receiver.close();
    },
  };
}
