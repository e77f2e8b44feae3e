/**
 * What the simulations of the state machines share: the stack synthesized as `npm run synth`
 * makes it, its definitions resolved and validated (asl-validator), and the real peers of the
 * steps — dynalite for the run table (run store and delivery ledger), the loopback S3 server for
 * the runs bucket (named as the definition names it), a callback receiver. Step Functions itself
 * is simulated by test/support/asl over these real step handlers.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { after, before } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { callbackOptionsFromEnv, deliverCallback } from '../../lib/callback/index.ts';
import { createDynamoConcurrencyPool } from '../../lib/cloud/dynamo-concurrency-pool.ts';
import { createDynamoDeliveryLedger } from '../../lib/cloud/dynamo-delivery-ledger.ts';
import { createDynamoRunStore } from '../../lib/cloud/dynamo-run-store.ts';
import { presignResultUrl } from '../../lib/cloud/result-url.ts';
import { createS3BlobStore } from '../../lib/cloud/s3-blobs.ts';
import { type ConcurrencyPool, WORKER_POOL } from '../../lib/fleet/concurrency-pool.ts';
import type { DeliveryLedger, RunStore } from '../../lib/fleet/run-store.ts';
import type { BlobStore, StepDeps } from '../../lib/fleet/steps/deps.ts';
import { runWorkerStep, workerStepSchema } from '../../lib/fleet/steps/worker-steps.ts';
import { present } from '../../lib/optional.ts';
import { assemblyDir, synth } from '../infra/synth.ts';
import {
  resolveDefinition,
  routeByLogicalId,
  type S3Like,
  SimulatedStepFunctions,
  s3FromClient,
  validateDefinition,
} from '../support/asl/index.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { type DynaliteServer, startDynalite } from '../support/dynalite.ts';
import type { HostDoubles } from '../support/host-double.ts';
import { createTestS3Client, type S3TestServer, startS3Server } from '../support/s3-server.ts';

export interface Definitions {
  fleet: object;
  operation: object;
  heartbeat: object;
  /** A quick change's callback (lib/fleet/steps/change.ts). */
  change: object;
  /**
   * The runs bucket's name: the definitions name it by its logical id (`RunsBucket…`, upper case,
   * which S3 would refuse), so the simulation's S3 (`simulatedS3`) maps that name to this one.
   */
  bucket: string;
  /** The logical id the definitions use for it. */
  bucketId: string;
  /** The FleetRunEnded rule (infra/stack.ts): a fleet run's execution ended without its aggregate step. */
  runEnded: EndedRule;
  /** The HeartbeatEnded rule: a heartbeat execution ended without its report. */
  heartbeatEnded: EndedRule;
}

/** The synthesized stack's four definitions, each validated with asl-validator. */
export function synthesizedDefinitions(context: Record<string, unknown> = {}): Definitions {
  const out = assemblyDir();
  try {
    const s = synth(out.dir, context);
    const template = s.json;
    const definitions = {
      fleet: resolveDefinition(template, s.id(s.stack.machines.fleet)),
      operation: resolveDefinition(template, s.id(s.stack.machines.operation)),
      heartbeat: resolveDefinition(template, s.id(s.stack.machines.heartbeat)),
      change: resolveDefinition(template, s.id(s.stack.machines.changeCallback)),
      bucket: s.id(s.stack.node.findChild('RunsBucket')).toLowerCase(),
      bucketId: s.id(s.stack.node.findChild('RunsBucket')),
      runEnded: endedRule(s, 'FleetRunEnded', s.stack.machines.fleet, s.stack.functions.worker.function),
      heartbeatEnded: endedRule(
        s,
        'HeartbeatEnded',
        s.stack.machines.heartbeat,
        s.stack.functions.heartbeat.function,
      ),
    };
    for (const definition of [
      definitions.fleet,
      definitions.operation,
      definitions.heartbeat,
      definitions.change,
    ]) {
      validateDefinition(definition);
    }
    return definitions;
  } finally {
    out.remove();
  }
}

/**
 * A rule that gives back a run's units of a concurrency pool (infra/stack.ts): what it matches, the
 * logical ids of the state machine it watches and of the function it invokes, and how it shapes
 * the event it hands over.
 */
export interface EndedRule {
  eventPattern: {
    source: string[];
    'detail-type': string[];
    detail: { stateMachineArn: unknown[]; status: string[] };
  };
  machineId: string;
  functionId: string;
  target: {
    Arn: unknown;
    InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
  };
}

function endedRule(s: ReturnType<typeof synth>, id: string, machine: object, fn: object): EndedRule {
  const rule = s.json.Resources[s.id(s.stack.node.findChild(id))]?.Properties ?? {};
  const [target] = rule['Targets'] as EndedRule['target'][];
  return {
    eventPattern: rule['EventPattern'] as EndedRule['eventPattern'],
    machineId: s.id(machine),
    functionId: s.id(fn),
    target: target!,
  };
}

/**
 * The event EventBridge hands the rule's target for `event`: each `<name>` of the input template
 * replaced by the value its path reads, as JSON (a string in quotes), as EventBridge does.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
 */
export function transformedInput(
  transformer: { InputPathsMap: Record<string, string>; InputTemplate: string },
  event: Record<string, unknown>,
): unknown {
  let text = transformer.InputTemplate;
  for (const [name, path] of Object.entries(transformer.InputPathsMap)) {
    const value = path
      .replace(/^\$\./, '')
      .split('.')
      .reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], event);
    text = text.replaceAll(`<${name}>`, JSON.stringify(value));
  }
  return JSON.parse(text);
}

/**
 * Calls `fn` again when the loopback connection was reset under it ("read ECONNRESET", "socket
 * hang up"): the tests' SDK clients make one attempt only (loopbackClientConfig), and on a loaded
 * machine a pooled keep-alive socket is now and then reset by the loopback server as it is reused.
 */
export async function retryReset<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      const reset = /ECONNRESET|socket hang up/.test(`${(error as { code?: string }).code} ${error}`);
      if (!reset || attempt >= attempts) throw error;
    }
  }
}

/**
 * The S3 of the simulated state machines (ItemReader, ResultWriter): the runs bucket by either
 * name. It is Step Functions' own access, not a step's, so a reset connection is tried again
 * (`retryReset`), as the service retries its own calls: the steps' S3 stays one attempt.
 */
export function simulatedS3(peers: CloudPeers, definitions: Definitions): S3Like {
  const real = s3FromClient(peers.s3Client);
  const name = (bucket: string) => (bucket === definitions.bucketId ? definitions.bucket : bucket);
  return {
    getObject: (bucket, key) => retryReset(() => real.getObject(name(bucket), key)),
    putObject: (bucket, key, body) => retryReset(() => real.putObject(name(bucket), key, body)),
  };
}

/** The definitions and peers of a file's cloud simulations, set up in its `before`. */
export interface CloudSimulation {
  readonly definitions: Definitions;
  readonly peers: CloudPeers;
}

/**
 * Registers, in the calling `describe`, the `before` that synthesizes the stack's definitions and
 * starts the cloud peers, and the `after` that closes them; read the fields in tests and hooks only.
 */
export function useCloudSimulation(): CloudSimulation {
  let state: { definitions: Definitions; peers: CloudPeers } | undefined;
  before(async () => {
    const definitions = synthesizedDefinitions();
    state = { definitions, peers: await startCloudPeers(definitions.bucket) };
  });
  after(() => state?.peers.close());
  const started = () => {
    if (!state) throw new Error('the cloud simulation is set up in `before`');
    return state;
  };
  return {
    get definitions() {
      return started().definitions;
    },
    get peers() {
      return started().peers;
    },
  };
}

export interface CloudPeers {
  dynamo: DynaliteServer;
  s3: S3TestServer;
  s3Client: S3Client;
  receiver: CallbackReceiver;
  tableName: string;
  close(): Promise<void>;
}

export async function startCloudPeers(bucket: string, secret?: string): Promise<CloudPeers> {
  const [dynamo, s3, receiver] = await Promise.all([
    startDynalite(),
    startS3Server([bucket]),
    startCallbackReceiver([], present({ secret })),
  ]);
  const tableName = await dynamo.createTable();
  return {
    dynamo,
    s3,
    s3Client: createTestS3Client(s3),
    receiver,
    tableName,
    close: async () => {
      await Promise.all([dynamo.close(), s3.close(), receiver.close()]);
    },
  };
}

/** What one simulated Lambda invocation knows: when its step read the run's failure count. */
export interface InvocationContext {
  gateStartSeq?: number;
}
export const invocation = new AsyncLocalStorage<InvocationContext>();

/**
 * The cloud backends of the steps over the peers: a Dynamo run store whose reads are tagged
 * (`tick()` taken as each read is sent) in the invocation's context, a Dynamo ledger, the worker's
 * concurrency pool on the same table, and the runs bucket through a real S3Client.
 */
export function cloudBackends(
  peers: CloudPeers,
  bucket: string,
  tick: () => number,
): {
  store: RunStore;
  ledger: DeliveryLedger;
  blobs: BlobStore;
  pool: ConcurrencyPool;
  failureEvents: { seq: number; count: number }[];
} {
  const real = createDynamoRunStore({ client: peers.dynamo.client(), tableName: peers.tableName });
  const failureEvents: { seq: number; count: number }[] = [];
  const store: RunStore = {
    ...real,
    async get(operationId) {
      const context = invocation.getStore();
      if (context) context.gateStartSeq = tick();
      return real.get(operationId);
    },
    async addFailure(operationId) {
      const count = await real.addFailure(operationId);
      failureEvents.push({ seq: tick(), count });
      return count;
    },
  };
  const ledger = createDynamoDeliveryLedger({
    client: peers.dynamo.client(),
    tableName: peers.tableName,
    pollMs: 5,
  });
  const blobs = createS3BlobStore(peers.s3Client, bucket, (key) =>
    presignResultUrl(peers.s3Client, { bucket, key }),
  );
  const pool = createDynamoConcurrencyPool({
    client: peers.dynamo.client(),
    tableName: peers.tableName,
    name: WORKER_POOL,
  });
  return { store, ledger, blobs, pool, failureEvents };
}

/** The steps' dependencies over the backends, the host doubles doing the targets' work. */
export function simulatedStepDeps(hosts: HostDoubles, backends: ReturnType<typeof cloudBackends>): StepDeps {
  return {
    fleet: hosts.fleet,
    store: backends.store,
    ledger: backends.ledger,
    blobs: backends.blobs,
    deliver: (url, result) =>
      deliverCallback(url, result, {
        ...callbackOptionsFromEnv({}, 'test'),
        backoffBaseMs: 5,
        backoffMaxMs: 10,
      }),
    workFor: () => hosts.work(),
    concurrencyCap: 10,
    pool: backends.pool,
    stoppedRuns: new Set(),
  };
}

/**
 * One fleet upgrade of deepfiler 3.2.1 to the end on the simulated fleet-run machine, every worker
 * invocation going through `intercept` (which calls `step` for the real one, or throws); what the
 * callback receiver got for it.
 */
export async function simulatedFleetUpgrade(
  setup: { definitions: Definitions; peers: CloudPeers; deps: StepDeps; seed: number },
  operationId: string,
  request: Record<string, unknown>,
  intercept: (
    payload: { step?: string; item?: { index: number } },
    step: () => Promise<unknown>,
  ) => Promise<unknown>,
) {
  const { definitions, peers, deps, seed } = setup;
  const sim = new SimulatedStepFunctions({
    s3: simulatedS3(peers, definitions),
    seed,
    invoke: routeByLogicalId({
      WorkerFunction: (payload) =>
        intercept(payload as { step?: string }, () => runWorkerStep(deps, workerStepSchema.parse(payload))),
    }),
  });
  const input = {
    operationId,
    startedAt: '2026-11-28T12:00:00.000Z',
    request: {
      select: 'all',
      product: 'deepfiler',
      version: '3.2.1',
      callbackUrl: peers.receiver.url,
      ...request,
    },
  };
  const execution = await sim
    .startExecution({ definition: definitions.fleet, name: operationId, input })
    .result();
  const callbacks = peers.receiver.requests.filter((r) => JSON.parse(r.body).operationId === operationId);
  return { execution, callbacks };
}
