/**
 * The composition root of the Lambda functions: the SDK clients, the inventory (from
 * `INVENTORY_SOURCE`), the SSH key and known_hosts and the callback secret (from Secrets
 * Manager), the fleet over them, the callback deliverer, the logger, the run store and delivery
 * ledger (DynamoDB), and how a run is started (a Step Functions execution named by its operation
 * id). Built once per cold start and cached; a failed build is not cached, so the next invocation
 * tries again. The one part not kept for the container's life is the inventory's dynamic hosts:
 * `[source:NAME]` sections are listed again at each invocation (see `runtime()`).
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
import type { RunClaims } from '../lib/cloud/run-claims.ts';
import type { Clients } from '../lib/cloud/sdk-clients.ts';
import { expandInventory, hasDynamicSources } from '../lib/config/dynamic-inventory.ts';
import { type Inventory, parseInventory } from '../lib/config/inventory.ts';
import { BootstrapError } from '../lib/errors.ts';
import type { Deliver, FleetResult } from '../lib/fleet/aggregate.ts';
import {
  type ConcurrencyPool,
  HEARTBEAT_POOL,
  type PoolName,
  WORKER_POOL,
} from '../lib/fleet/concurrency-pool.ts';
import type { Fleet } from '../lib/fleet/fleet.ts';
import type { RunJob } from '../lib/fleet/job.ts';
import {
  createMemoryDeliveryLedger,
  createMemoryRunStore,
  type DeliveryLedger,
  type RunStore,
} from '../lib/fleet/run-store.ts';
import { type ChangeCallback, changeResultKey } from '../lib/fleet/steps/change.ts';
import type { StepDeps } from '../lib/fleet/steps/deps.ts';
import type { HostTarget } from '../lib/operations/types.ts';
import { present } from '../lib/optional.ts';
import { createInventoryFleet } from '../lib/orchestrate/inventory-fleet.ts';
import { awsClientConfig } from '../lib/transport/aws-http.ts';
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
  /**
   * The inventory as read from `INVENTORY_SOURCE`, parsed once per cold start: its static hosts,
   * and its `[source:NAME]` sections unlisted (the runtime's fleet lists them at each invocation).
   */
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
  /**
   * The inventory's hosts. With dynamic sources, one object whose hosts are those of the latest
   * listing (`runtime()` lists at each invocation), so what holds it (step deps, the API handler)
   * never holds a stale fleet.
   */
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
  /** What each operation id names, taken before any run starts (SPEC 7.1 "never a second run"). */
  claims: RunClaims;
  /**
   * The concurrency every run at once shares, on the run table: the worker's (fleet runs' targets,
   * lib/fleet/steps/reserve.ts) and the heartbeat function's (its shards). Absent without a table
   * (a function run by hand, one process).
   */
  pools?: Record<PoolName, ConcurrencyPool>;
}

/**
 * What a runtime reads beside the inventory. `secrets: false` (a function that only validates and
 * starts runs: batch-upgrade) reads none — neither the SSH key nor known_hosts nor the callback
 * secret — so it needs no grant on them; its fleet can select hosts but not reach them, and it
 * delivers no callback.
 */
export interface RuntimeProfile {
  secrets?: boolean;
}

/** Reads the inventory and the secrets the environment `raw` names, through the given clients. */
export function loadCloudConfig(
  raw: RawEnv,
  clients: Pick<Clients, 's3' | 'ssm' | 'secrets'>,
  profile: RuntimeProfile = {},
): Promise<CloudConfig> {
  return loadConfig(readEnvironment(raw), clients, profile);
}

async function loadConfig(
  env: Environment,
  clients: Pick<Clients, 's3' | 'ssm' | 'secrets'>,
  profile: RuntimeProfile = {},
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
    arn === undefined || profile.secrets === false
      ? Promise.resolve(undefined)
      : readSecret(clients.secrets, arn);
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
export async function buildRuntime(
  raw?: RawEnv,
  given?: Clients,
  profile: RuntimeProfile = {},
): Promise<Runtime> {
  const env = readEnvironment(raw);
  const [sdk, { Logger }] = await Promise.all([
    import('../lib/cloud/sdk-clients.ts'),
    import('@aws-lambda-powertools/logger'),
  ]);
  const clients = given ?? sdk.createClients();
  const logger = new Logger({ serviceName: env.powertoolsServiceName ?? SERVICE_NAME });
  const config = await loadConfig(env, clients, profile);
  const ssmClientFor = sdk.ssmClientsFor(clients);
  const fleetDeps = {
    ssh: {
      ...present({ privateKey: config.ssh.privateKey }),
      ...(config.ssh.knownHosts === undefined ? {} : { knownHosts: writeKnownHosts(config.ssh.knownHosts) }),
    },
    ssmClientFor,
  };
  let fleet: Fleet;
  let listAgain: ListAgain | undefined;
  if (hasDynamicSources(config.inventory)) {
    // Dynamic sources (SPEC 3.1 v2) are listed now, for the first invocation, and again at each
    // one after it (`runtime()`); the EC2 SDK is loaded only by inventories that list EC2.
    const { EC2Client } = await import('@aws-sdk/client-ec2');
    const ec2 = new Map<string, InstanceType<typeof EC2Client>>();
    const ec2For = (region: string | null) => {
      let client = ec2.get(region ?? '');
      if (!client) {
        client = new EC2Client(awsClientConfig(region));
        ec2.set(region ?? '', client);
      }
      return client;
    };
    const parsed = config.inventory;
    const list = () => expandInventory(parsed, { ec2For, ssmFor: ssmClientFor });
    const listed = listedFleet(await list(), (inventory) => createInventoryFleet(inventory, fleetDeps));
    fleet = listed.fleet;
    listAgain = relister(list, listed);
  } else {
    fleet = createInventoryFleet(config.inventory, fleetDeps);
  }
  // The secret from Secrets Manager stands in for SPEC 5's CALLBACK_SECRET variable.
  const options = {
    userAgentVersion: VERSION,
    ...present({ secret: config.callbackSecret ?? env.callbackSecret }),
    allowPrivate: env.callbackAllowPrivate,
    logger: (record: CallbackLogRecord) => logger.info('callback', { ...record }),
  };
  const deliverJson =
    profile.secrets === false
      ? async (): Promise<CallbackOutcome> => {
          // Without the callback secret a delivery would go unsigned: this runtime delivers none.
          throw new BootstrapError('INTERNAL', 'this function reads no secrets and delivers no callback');
        }
      : (url: string, payload: { operationId: string }) => deliverCallback(url, payload, options);
  const { store, ledger, claims, pools } = await createStores(env, clients);
  const rt: Runtime = {
    env,
    clients,
    config,
    fleet,
    deliver: deliverJson,
    deliverJson,
    logger,
    store,
    ledger,
    claims,
    ...present({ pools }),
  };
  if (listAgain) listAgainOf.set(rt, listAgain);
  return rt;
}

/**
 * Lists a runtime's sources again and puts the hosts in its fleet; absent: no sources. `fresh`
 * lists whatever the listing's age; without it, a listing younger than {@link LISTING_MAX_AGE_MS}
 * stands.
 */
type ListAgain = (fresh: boolean, servers: readonly string[]) => Promise<void>;

/**
 * How old a listing a step inside a run may use. A run's plan (the fleet run's, the heartbeat's)
 * and each API request list afresh (SPEC 3.1: "at each run"); the Map's children (targets, canary,
 * heartbeat shards, the aggregate) run by the hundred at once on as many containers, and a listing
 * per child would be one DescribeInstances page per 1,000 instances for each of 10,000 targets,
 * far past EC2's request rate. A child's container lists again once its listing is a minute old
 * (at the default cap of 100 containers, under 2 listings a second), or at once when it is handed
 * a server its listing lacks (the plan's listing, made on another container, is newer).
 */
export const LISTING_MAX_AGE_MS = 60_000;
const listAgainOf = new WeakMap<Runtime, ListAgain>();

/**
 * A listing per call, but the first call takes the listing `buildRuntime` made for the cold
 * start's own invocation. Listings that overlap (not in Lambda, which runs one invocation per
 * container at a time) are put in the fleet in the order they were started, never an older one
 * over a newer one.
 */
function relister(
  list: () => Promise<Inventory>,
  listed: { install(inventory: Inventory): void; has(name: string): boolean },
  now: () => number = Date.now,
): ListAgain {
  let builtListing = true;
  let started = 0;
  let installed = 0;
  let listedAt = now();
  const install = (inventory: Inventory) => listed.install(inventory);
  return async (fresh, servers) => {
    if (builtListing) {
      builtListing = false;
      return;
    }
    const known = servers.every((name) => listed.has(name));
    if (!fresh && known && now() - listedAt < LISTING_MAX_AGE_MS) return;
    listedAt = now();
    started += 1;
    const mine = started;
    const inventory = await list();
    if (mine > installed) {
      installed = mine;
      install(inventory);
    }
  };
}

/**
 * The fleet over the latest listing of a dynamic inventory: `select` and `servers` answer from it,
 * `target` resolves a name in it. A host whose entry is the same in a new listing keeps its
 * transport (its SSH connection, its SSM batcher); one that is gone or changed (the same name,
 * now another instance) gets a new transport, and the fleet of an older listing is closed once
 * none of its hosts is in use any more.
 */
function listedFleet(
  first: Inventory,
  make: (inventory: Inventory) => Fleet,
): { fleet: Fleet; install(inventory: Inventory): void; has(name: string): boolean } {
  interface Listing {
    fleet: Fleet;
    entries: Map<string, string>;
    /** Targets made by this listing's fleet that are still handed out. */
    inUse: number;
  }
  const listingOf = (inventory: Inventory): Listing => ({
    fleet: make(inventory),
    entries: new Map(inventory.hosts.map((host) => [host.name, JSON.stringify(host)])),
    inUse: 0,
  });
  const fingerprint = (inventory: Inventory) => JSON.stringify(inventory.hosts);
  let current = listingOf(first);
  let currentPrint = fingerprint(first);
  const made = new Map<string, { entry: string; target: HostTarget; listing: Listing }>();
  const closeIfUnused = (listing: Listing) => {
    if (listing !== current && listing.inUse === 0) void listing.fleet.close().catch(() => {});
  };
  const fleet: Fleet = {
    servers: () => current.fleet.servers(),
    select: (selector) => current.fleet.select(selector),
    target(name) {
      const kept = made.get(name);
      if (kept) return kept.target;
      const target = current.fleet.target(name);
      made.set(name, { entry: current.entries.get(name)!, target, listing: current });
      current.inUse += 1;
      return target;
    },
    release: (name) => made.get(name)?.listing.fleet.release?.(name),
    async close() {
      const listings = new Set([current, ...[...made.values()].map((kept) => kept.listing)]);
      made.clear();
      for (const listing of listings) listing.inUse = 0;
      await Promise.allSettled([...listings].map((listing) => listing.fleet.close()));
    },
  };
  const install = (inventory: Inventory) => {
    const print = fingerprint(inventory);
    if (print === currentPrint) return;
    const previous = current;
    current = listingOf(inventory);
    currentPrint = print;
    const touched = new Set([previous]);
    for (const [name, kept] of made) {
      if (current.entries.get(name) === kept.entry) continue;
      made.delete(name);
      kept.listing.inUse -= 1;
      touched.add(kept.listing);
    }
    for (const listing of touched) closeIfUnused(listing);
  };
  return { fleet, install, has: (name) => current.entries.has(name) };
}

/**
 * The run store and delivery ledger: on DynamoDB when the stack names a table (`RUN_TABLE_NAME`),
 * in memory otherwise (one process: a function run by hand against a fleet).
 */
async function createStores(
  env: Environment,
  clients: Pick<Clients, 'dynamodb'>,
): Promise<{
  store: RunStore;
  ledger: DeliveryLedger;
  claims: RunClaims;
  pools?: Record<PoolName, ConcurrencyPool>;
}> {
  const tableName = env.runTableName;
  if (tableName === undefined) {
    const { createMemoryRunClaims } = await import('../lib/cloud/run-claims.ts');
    return {
      store: createMemoryRunStore(),
      ledger: createMemoryDeliveryLedger(),
      claims: createMemoryRunClaims(),
    };
  }
  const [
    { createDynamoRunStore },
    { createDynamoDeliveryLedger },
    { createDynamoRunClaims },
    { createDynamoConcurrencyPool },
  ] = await Promise.all([
    import('../lib/cloud/dynamo-run-store.ts'),
    import('../lib/cloud/dynamo-delivery-ledger.ts'),
    import('../lib/cloud/dynamo-run-claims.ts'),
    import('../lib/cloud/dynamo-concurrency-pool.ts'),
  ]);
  const client: DynamoDBClient = clients.dynamodb;
  return {
    store: createDynamoRunStore({ client, tableName }),
    ledger: createDynamoDeliveryLedger({ client, tableName }),
    claims: createDynamoRunClaims({ client, tableName }),
    pools: {
      [WORKER_POOL]: createDynamoConcurrencyPool({ client, tableName, name: WORKER_POOL }),
      [HEARTBEAT_POOL]: createDynamoConcurrencyPool({ client, tableName, name: HEARTBEAT_POOL }),
    },
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
    ...present({ concurrencyCap: rt.env.mapConcurrencyCap, pool: rt.pools?.[WORKER_POOL] }),
    executionEnded: async (executionArn) => {
      const { executionEnded } = await import('../lib/cloud/start-run.ts');
      return executionEnded(rt.clients.sfn, executionArn);
    },
  };
}

/** The runtime of each profile this container built (one, in Lambda; tests run several functions in one process). */
const cached = new Map<boolean, Promise<Runtime>>();

/**
 * The runtime of this invocation: built at the cold start and kept (the static inventory parsed
 * once, the secrets, the clients, the stores), its dynamic sources listed again at every call —
 * each handler calls this once per invocation. SPEC 3.1 adds the instances AWS lists "at each
 * run", and a warm container serves many runs: a listing kept for its life would keep
 * terminated instances as targets and never see launched ones. Every invocation lists, with no
 * freshness window, because one cannot tell which kind of invocation it is: a fleet run's plan and
 * the heartbeat's plan must see the instances of now, and a Map child (a fleet run's target, a
 * heartbeat shard) is handed names by a plan that another container may have made after this
 * one's last listing — or a name that has since moved to another instance. The cost is one listing
 * (a `DescribeInstances` or `DescribeInstanceInformation` per page of 1,000, per source) per
 * invocation, and only for inventories with sources. A listing that fails fails the invocation
 * (CONFIG_ERROR naming the source) rather than serving the last one; the next lists again.
 */
/**
 * This container's runtime. With dynamic sources, their listing is made afresh (`fresh`, the
 * default: a run's plan, an API request) or, for a step inside a run, kept while it is recent and
 * knows every one of `servers` (see {@link LISTING_MAX_AGE_MS}).
 */
export async function runtime(
  options: { fresh?: boolean; servers?: readonly string[] } & RuntimeProfile = {},
): Promise<Runtime> {
  const secrets = options.secrets !== false;
  let building = cached.get(secrets);
  if (!building) {
    building = buildRuntime(undefined, undefined, { secrets }).catch((error: unknown) => {
      cached.delete(secrets);
      throw error;
    });
    cached.set(secrets, building);
  }
  const rt = await building;
  await listAgainOf.get(rt)?.(options.fresh ?? true, options.servers ?? []);
  return rt;
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

/**
 * Hands a quick change's callback (`PUT …/mode`, `PATCH …/config`, SPEC 5) to Step Functions and
 * resolves once it is handed on: the result written to the runs bucket, then the ChangeCallback
 * execution named by the operation id started, whose worker step POSTs it once
 * (lib/fleet/steps/change.ts says why this way). Nothing of it runs after the API has answered.
 */
export async function startChangeCallback(rt: Runtime, url: string, result: FleetResult): Promise<void> {
  const [target, ...others] = result.targets;
  if (target === undefined || others.length > 0) {
    throw new BootstrapError('INTERNAL', `${result.operationId}: a quick change has one target`);
  }
  const machine = requireSetting(rt.env, 'changeCallbackStateMachineArn');
  const bucket = requireSetting(rt.env, 'runsBucket');
  const { createS3BlobStore } = await import('../lib/cloud/s3-blobs.ts');
  await createS3BlobStore(rt.clients.s3, bucket).put(
    changeResultKey(result.operationId),
    JSON.stringify(result),
  );
  const input: ChangeCallback = { operationId: result.operationId, server: target.server, callbackUrl: url };
  await startExecution(rt, machine, result.operationId, input);
}
