// The API over a small fleet of real sandbox hosts (local transport), with the runs driven in
// process and callbacks delivered for real: web-1 and web-2 (edge), worker-1 (workers), a host
// whose shell does not exist (unreachable), and one whose bootstrap.ini is broken.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { type ApiHandler, createApiHandler } from '../../lib/api/handler.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createStaticFleet } from '../../lib/demo/static-fleet.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import { createLocalRuns, type LocalRuns } from '../../lib/fleet/local-runs.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type RunStore,
} from '../../lib/fleet/run-store.ts';
import { present } from '../../lib/optional.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

export const CALLBACK_SECRET = 'api-test-secret';

export interface ApiAnswer {
  status: number;
  headers: Record<string, string>;
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape each test asserts
  body: any;
}

export interface ApiFixture {
  sandboxes: Record<'web-1' | 'web-2' | 'worker-1' | 'broken', Sandbox>;
  fleet: Fleet;
  worker: LocalRuns;
  store: RunStore;
  handler: ApiHandler;
  call(
    method: string,
    url: string,
    options?: { body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
  /** GETs `location` until its `status` is no longer `running`. */
  poll(location: string): Promise<ApiAnswer>;
  close(): Promise<void>;
}

/** Makes a hook wait until `release(sandbox)`, so a test decides when an operation ends. */
export function block(sandbox: Sandbox, product: string, action: 'provision' | 'upgrade'): void {
  writeFileSync(
    join(sandbox.root, 'behaviour', `${product}.${action}`),
    'while [ ! -f "$root/release" ]; do sleep 0.05; done\n',
  );
}

export function release(sandbox: Sandbox): void {
  writeFileSync(join(sandbox.root, 'release'), '');
}

export function createApiFixture(): ApiFixture {
  const sandboxes = {
    'web-1': createSandbox(),
    'web-2': createSandbox(),
    'worker-1': createSandbox(),
    broken: createSandbox(),
  };
  sandboxes.broken.writeConfig('[server]\ninitial_mode = active\n');
  const local = (name: string, sandbox: Sandbox, groups: string[]) => ({
    groups,
    target: sandbox.host(createLocalTransport({ target: name }), name),
  });
  const fleet = createStaticFleet([
    local('web-1', sandboxes['web-1'], ['edge', 'eu']),
    local('web-2', sandboxes['web-2'], ['edge', 'us']),
    local('worker-1', sandboxes['worker-1'], ['workers']),
    {
      groups: ['lost'],
      target: {
        name: 'ghost',
        transport: createLocalTransport({ target: 'ghost', shell: '/nonexistent/bin/sh' }),
        configPath: '/nonexistent/bootstrap.ini',
        stateDir: '/nonexistent/state',
      },
    },
    local('broken', sandboxes.broken, ['lost']),
  ]);
  const store = createMemoryRunStore();
  const options = {
    ...callbackOptionsFromEnv({ CALLBACK_SECRET }, 'test'),
    backoffBaseMs: 10,
    backoffMaxMs: 20,
  };
  const worker = createLocalRuns({
    fleet,
    store,
    ledger: createMemoryDeliveryLedger(),
    deliver: (url, result) => deliverCallback(url, result, options),
    pollMs: 50,
  });
  const handler = createApiHandler({ fleet, dispatch: worker.dispatch, runStore: store });

  const call: ApiFixture['call'] = async (method, url, callOptions = {}) => {
    const body =
      callOptions.raw ?? (callOptions.body === undefined ? undefined : JSON.stringify(callOptions.body));
    const event = buildHttpEvent({
      method,
      url,
      headers: { 'content-type': 'application/json', ...callOptions.headers },
      ...present({ body }),
    });
    const result = await handler(event);
    assert.equal(result.headers['content-type'], 'application/json');
    return { status: result.statusCode, headers: result.headers, body: JSON.parse(result.body) };
  };

  return {
    sandboxes,
    fleet,
    worker,
    store,
    handler,
    call,
    async poll(location) {
      for (let attempt = 0; attempt < 600; attempt++) {
        const answer = await call('GET', location);
        if (answer.status !== 200 || answer.body.status !== 'running') return answer;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${location} still running after 30 s`);
    },
    async close() {
      for (const sandbox of Object.values(sandboxes)) release(sandbox);
      await worker.idle();
      await fleet.close();
      for (const sandbox of Object.values(sandboxes)) sandbox.cleanup();
    },
  };
}

/**
 * For the suite it is called in: the fixture and a callback receiver that checks
 * CALLBACK_SECRET's signatures, handed to `use` before the tests and closed after them.
 */
export function useApiWithReceiver(
  use: (started: { api: ApiFixture; receiver: CallbackReceiver }) => void,
): void {
  let started: { api: ApiFixture; receiver: CallbackReceiver } | undefined;
  before(async () => {
    started = {
      api: createApiFixture(),
      receiver: await startCallbackReceiver([], { secret: CALLBACK_SECRET }),
    };
    use(started);
  });
  after(async () => {
    await started?.api.close();
    await started?.receiver.close();
  });
}

/** Asserts SPEC 2.6's error shape with the status of its HTTP column. */
export function assertError(answer: ApiAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'details', 'message']);
  assert.equal(answer.body.code, code);
  assert.equal(typeof answer.body.message, 'string');
}
