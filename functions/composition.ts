/**
 * The composition root of the Lambda functions: the SDK clients, the inventory (from
 * `INVENTORY_SOURCE`), the SSH key and known_hosts and the callback secret (from Secrets
 * Manager), the fleet over them, the callback deliverer, the logger, the run store and delivery
 * ledger (DynamoDB), and how a run is started (a Step Functions execution named by its operation
 * id). Built once per cold start and cached; a failed build is not cached, so the next invocation
 * tries again.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type CallbackLogRecord, type CallbackOutcome, deliverCallback } from '../lib/callback/index.ts';
import {
  ENV,
  type Environment,
  type RawEnv,
  readEnvironment,
  requireSetting,
  SERVICE_NAME,
} from '../lib/cloud/environment.ts';
import type { PresignResultOptions, ResultLocation } from '../lib/cloud/result-url.ts';
import type { Clients } from '../lib/cloud/sdk-clients.ts';
import { expandInventory, hasDynamicSources } from '../lib/config/dynamic-inventory.ts';
import { type Inventory, parseInventory } from '../lib/config/inventory.ts';
import type { Deliver } from '../lib/fleet/aggregate.ts';
import type { Fleet } from '../lib/fleet/fleet.ts';
import type { RunJob } from '../lib/fleet/job.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type DeliveryLedger,
  type RunStore,
} from '../lib/fleet/run-store.ts';
import type { StepDeps } from '../lib/fleet/steps/deps.ts';
import { present } from '../lib/optional.ts';
import { createInventoryFleet } from '../lib/orchestrate/inventory-fleet.ts';
import { VERSION } from '../lib/version.ts';

// Everything that loads the AWS SDK (the clients, and lib/cloud's modules that send its commands)
// and Powertools is imported with import() where first used, never at the top: module init — what
// a cold start pays before its first invocation — parses and runs none of it (scripts/bundle.mjs
// splits each into chunks of its own).

export type { Clients } from '../lib/cloud/sdk-clients.ts';

/** `KNOWN_HOSTS_SECRET_ARN`: optional known_hosts text for SSH hosts not pinned by `host_key`. */
export const KNOWN_HOSTS_SECRET_ARN = ENV.knownHostsSecretArn;

/** What the functions read from their environment and its sources; secrets stay out of logs. */
export interface CloudConfig {
  inventory: Inventory;
  /** `knownHosts` is the file's text (written to a file for the SSH transport). */
  ssh: { privateKey?: string; knownHosts?: string };
  callbackSecret: string | undefined;
}

export interface Runtime {
  /** The environment, read once (lib/cloud/environment.ts). */
  env: Environment;
  clients: Clients;
  config: CloudConfig;
  fleet: Fleet;
  /** SPEC 5 delivery of an aggregated result. */
  deliver: Deliver;
  /** The same for any JSON carrying an `operationId` (the heartbeat report). */
  deliverJson: (url: string, payload: { operationId: string }) => Promise<CallbackOutcome>;
  logger: Logger;
  /** Fleet run records (`GET /fleet/operations/{id}`, the failure count). */
  store: RunStore;
  /** Exactly-once delivery records. */
  ledger: DeliveryLedger;
}

/** Reads the inventory and the secrets the environment `raw` names, through the given clients. */
export function loadCloudConfig(
  raw: RawEnv,
  clients: Pick<Clients, 's3' | 'ssm' | 'secrets'>,
): Promise<CloudConfig> {
  return loadConfig(readEnvironment(raw), clients);
}

async function loadConfig(
  env: Environment,
  clients: Pick<Clients, 's3' | 'ssm' | 'secrets'>,
): Promise<CloudConfig> {
  const sourceText = requireSetting(env, 'inventorySource');
  const { parseInventorySource, parseSshKeySecret, readInventorySource, readSecret } = await import(
    '../lib/cloud/sources.ts'
  );
  const source = parseInventorySource(sourceText);
  // Only the client the source needs is read (and so made).
  const text = readInventorySource(source, {
    ...(source.kind === 's3' ? { s3: clients.s3 } : {}),
    ...(source.kind === 'ssm' ? { ssm: clients.ssm } : {}),
    baseDir: env.lambdaTaskRoot ?? process.cwd(),
  });
  const optionalSecret = (arn: string | undefined) =>
    arn === undefined ? Promise.resolve(undefined) : readSecret(clients.secrets, arn);
  const [inventoryText, sshKey, knownHosts, callbackSecret] = await Promise.all([
    text,
    optionalSecret(env.sshKeySecretArn),
    optionalSecret(env.knownHostsSecretArn),
    optionalSecret(env.callbackSecretArn),
  ]);
  const key = sshKey === undefined ? undefined : parseSshKeySecret(sshKey, env.sshKeySecretArn!);
  return {
    inventory: parseInventory(inventoryText, sourceText),
    ssh: {
      ...(key === undefined ? {} : key),
      ...present({ knownHosts }),
    },
    callbackSecret: callbackSecret?.trim() || undefined,
  };
}

/** The SSH transport reads known_hosts from a file: the secret's text goes to one in /tmp. */
function writeKnownHosts(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-ssh-'));
  const file = join(dir, 'known_hosts');
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
  return file;
}

/** Builds everything a function needs; `clients` default to lib/cloud/sdk-clients.ts's, each made on first use. */
export async function buildRuntime(raw?: RawEnv, given?: Clients): Promise<Runtime> {
  const env = readEnvironment(raw);
  const [sdk, { Logger }] = await Promise.all([
    import('../lib/cloud/sdk-clients.ts'),
    import('@aws-lambda-powertools/logger'),
  ]);
  const clients = given ?? sdk.createClients();
  const logger = new Logger({ serviceName: env.powertoolsServiceName ?? SERVICE_NAME });
  const config = await loadConfig(env, clients);
  const ssmClientFor = sdk.ssmClientsFor(clients);
  // Dynamic sources (SPEC 3.1 v2) are listed when the runtime is built, with the EC2 SDK loaded
  // only by inventories that list EC2.
  if (hasDynamicSources(config.inventory)) {
    const { EC2Client } = await import('@aws-sdk/client-ec2');
    const ec2 = new Map<string, InstanceType<typeof EC2Client>>();
    const ec2For = (region: string | null) => {
      let client = ec2.get(region ?? '');
      if (!client) {
        client = new EC2Client(region === null ? {} : { region });
        ec2.set(region ?? '', client);
      }
      return client;
    };
    config.inventory = await expandInventory(config.inventory, { ec2For, ssmFor: ssmClientFor });
  }
  const fleet = createInventoryFleet(config.inventory, {
    ssh: {
      ...present({ privateKey: config.ssh.privateKey }),
      ...(config.ssh.knownHosts === undefined ? {} : { knownHosts: writeKnownHosts(config.ssh.knownHosts) }),
    },
    ssmClientFor,
  });
  // The secret from Secrets Manager stands in for SPEC 5's CALLBACK_SECRET variable.
  const options = {
    userAgentVersion: VERSION,
    ...present({ secret: config.callbackSecret ?? env.callbackSecret }),
    allowPrivate: env.callbackAllowPrivate,
    logger: (record: CallbackLogRecord) => logger.info('callback', { ...record }),
  };
  const deliverJson = (url: string, payload: { operationId: string }) =>
    deliverCallback(url, payload, options);
  const { store, ledger } = await createStores(env, clients);
  return { env, clients, config, fleet, deliver: deliverJson, deliverJson, logger, store, ledger };
}

/**
 * The run store and delivery ledger: on DynamoDB when the stack names a table (`RUN_TABLE_NAME`),
 * in memory otherwise (one process: a function run by hand against a fleet).
 */
async function createStores(
  env: Environment,
  clients: Pick<Clients, 'dynamodb'>,
): Promise<{ store: RunStore; ledger: DeliveryLedger }> {
  const tableName = env.runTableName;
  if (tableName === undefined) {
    return { store: createMemoryRunStore(), ledger: createMemoryDeliveryLedger() };
  }
  const [{ createDynamoRunStore }, { createDynamoDeliveryLedger }] = await Promise.all([
    import('../lib/cloud/dynamo-run-store.ts'),
    import('../lib/cloud/dynamo-delivery-ledger.ts'),
  ]);
  const client: DynamoDBClient = clients.dynamodb;
  return {
    store: createDynamoRunStore({ client, tableName }),
    ledger: createDynamoDeliveryLedger({ client, tableName }),
  };
}

/** A presigned GET of a run's result object (`s3://bucket/key` or its parts). */
export async function presignResult(
  rt: Runtime,
  location: ResultLocation | string,
  options?: PresignResultOptions,
): Promise<string> {
  const { presignResultUrl } = await import('../lib/cloud/result-url.ts');
  return presignResultUrl(rt.clients.s3, location, options);
}

/** Starts (or finds) the Step Functions execution named after `operationId`. */
export async function startExecution(
  rt: Runtime,
  stateMachineArn: string,
  operationId: string,
  input: unknown,
): Promise<{ executionArn: string; started: boolean }> {
  const { startNamedExecution } = await import('../lib/cloud/start-run.ts');
  return startNamedExecution(rt.clients.sfn, stateMachineArn, operationId, input);
}

const depsOf = new WeakMap<Runtime, Promise<StepDeps>>();

/** What the state machines' steps need, over this runtime (made once per cold start). */
export function stepDeps(rt: Runtime): Promise<StepDeps> {
  let deps = depsOf.get(rt);
  if (!deps) {
    deps = makeStepDeps(rt);
    depsOf.set(rt, deps);
    // A failed build (RUNS_BUCKET unset) is not kept: the next invocation tries again.
    deps.catch(() => depsOf.delete(rt));
  }
  return deps;
}

async function makeStepDeps(rt: Runtime): Promise<StepDeps> {
  const bucket = requireSetting(rt.env, 'runsBucket');
  const { createS3BlobStore } = await import('../lib/cloud/s3-blobs.ts');
  return {
    fleet: rt.fleet,
    store: rt.store,
    ledger: rt.ledger,
    blobs: createS3BlobStore(rt.clients.s3, bucket, (key) =>
      presignResult(rt, { bucket, key }, { expiresInSeconds: 7 * 24 * 3600 }),
    ),
    deliver: rt.deliver,
    stoppedRuns: new Set(),
    ...present({ concurrencyCap: rt.env.mapConcurrencyCap }),
  };
}

let cached: Promise<Runtime> | undefined;

/** The cold start's runtime, built on first use. */
export function runtime(): Promise<Runtime> {
  cached ??= buildRuntime().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/**
 * Starts the run that carries a job to its end: a Step Functions execution named by the
 * operation id — the fleet-run state machine for a fleet upgrade, the operation state machine
 * for one server's long operation. A repeat starts nothing new.
 */
export async function startRun(
  rt: Runtime,
  job: RunJob,
): Promise<{ executionArn: string; started: boolean }> {
  const startedAt = new Date().toISOString();
  if (job.kind === 'fleet') {
    const { kind: _kind, operationId, ...request } = job;
    const machine = requireSetting(rt.env, 'fleetStateMachineArn');
    return startExecution(rt, machine, operationId, { operationId, request, startedAt });
  }
  const { kind: _kind, waitLockSeconds: _wait, ...run } = job;
  const machine = requireSetting(rt.env, 'operationStateMachineArn');
  return startExecution(rt, machine, job.operationId, { ...run, startedAt });
}
