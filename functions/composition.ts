/**
 * The composition root of the Lambda functions: the SDK clients, the inventory (from
 * `INVENTORY_SOURCE`), the SSH key and known_hosts and the callback secret (from Secrets
 * Manager), the fleet over them, the callback deliverer, the logger. Built once per cold start
 * and cached; a failed build is not cached, so the next invocation tries again.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  type BatchExecutionInput,
  type BatchUpgradeRequest,
  batchExecutionName,
  STEP_FUNCTIONS_THRESHOLD,
} from '../infra/batch-plan.ts';
import { ENV, SERVICE_NAME } from '../infra/environment.ts';
import {
  parseInventorySource,
  parseSshKeySecret,
  readInventorySource,
  readSecret,
} from '../lib/api/sources.ts';
import {
  type CallbackLogRecord,
  type CallbackOutcome,
  callbackOptionsFromEnv,
  deliverCallback,
} from '../lib/callback/index.ts';
import { VERSION } from '../lib/cli/version.ts';
import { expandInventory, hasDynamicSources } from '../lib/config/dynamic-inventory.ts';
import { type Inventory, parseInventory } from '../lib/config/inventory.ts';
import { BootstrapError } from '../lib/errors.ts';
import type { Fleet } from '../lib/orchestrate/fleet.ts';
import { createInventoryFleet } from '../lib/orchestrate/inventory-fleet.ts';
import type { Deliver } from '../lib/orchestrate/run.ts';
import type { WorkerEvent, WorkerJob } from '../lib/worker/job.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** `KNOWN_HOSTS_SECRET_ARN`: optional known_hosts text for SSH hosts not pinned by `host_key`. */
export const KNOWN_HOSTS_SECRET_ARN = ENV.knownHostsSecretArn;

export interface Clients {
  s3: S3Client;
  ssm: SSMClient;
  secrets: SecretsManagerClient;
  lambda: LambdaClient;
  sfn: SFNClient;
}

/** What the functions read from their environment and its sources; secrets stay out of logs. */
export interface CloudConfig {
  inventory: Inventory;
  /** `knownHosts` is the file's text (written to a file for the SSH transport). */
  ssh: { privateKey?: string; knownHosts?: string };
  callbackSecret: string | undefined;
}

export interface Runtime {
  env: Env;
  clients: Clients;
  config: CloudConfig;
  fleet: Fleet;
  /** SPEC 5 delivery of an aggregated result. */
  deliver: Deliver;
  /** The same for any JSON carrying an `operationId` (the heartbeat report). */
  deliverJson: (url: string, payload: { operationId: string }) => Promise<CallbackOutcome>;
  logger: Logger;
}

/** The SDK clients, from the standard chain (region, credentials, `AWS_ENDPOINT_URL_*`). */
export function createClients(): Clients {
  return {
    s3: new S3Client({}),
    ssm: new SSMClient({ retryMode: 'adaptive' }),
    secrets: new SecretsManagerClient({}),
    lambda: new LambdaClient({}),
    sfn: new SFNClient({}),
  };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new BootstrapError('CONFIG_ERROR', `${name} is not set`, { variable: name });
  }
  return value.trim();
}

/** Reads the inventory and the secrets the environment names, through the given clients. */
export async function loadCloudConfig(
  env: Env,
  clients: Pick<Clients, 's3' | 'ssm' | 'secrets'>,
): Promise<CloudConfig> {
  const sourceText = required(env, ENV.inventorySource);
  const source = parseInventorySource(sourceText);
  const text = readInventorySource(source, {
    s3: clients.s3,
    ssm: clients.ssm,
    baseDir: env['LAMBDA_TASK_ROOT'] ?? process.cwd(),
  });
  const optionalSecret = (name: string) => {
    const arn = env[name];
    return arn === undefined || arn === '' ? Promise.resolve(undefined) : readSecret(clients.secrets, arn);
  };
  const [inventoryText, sshKey, knownHosts, callbackSecret] = await Promise.all([
    text,
    optionalSecret(ENV.sshKeySecretArn),
    optionalSecret(KNOWN_HOSTS_SECRET_ARN),
    optionalSecret(ENV.callbackSecretArn),
  ]);
  const key = sshKey === undefined ? undefined : parseSshKeySecret(sshKey, env[ENV.sshKeySecretArn]!);
  return {
    inventory: parseInventory(inventoryText, sourceText),
    ssh: {
      ...(key === undefined ? {} : key),
      ...(knownHosts === undefined ? {} : { knownHosts }),
    },
    callbackSecret: callbackSecret?.trim() || undefined,
  };
}

/** The SSM client of a host's region: the default one, or one more per other region, kept. */
function ssmClients(defaultClient: SSMClient): (region: string | null) => SSMClient {
  const byRegion = new Map<string, SSMClient>();
  return (region) => {
    if (region === null) return defaultClient;
    let client = byRegion.get(region);
    if (!client) {
      client = new SSMClient({ retryMode: 'adaptive', region });
      byRegion.set(region, client);
    }
    return client;
  };
}

/** The SSH transport reads known_hosts from a file: the secret's text goes to one in /tmp. */
function writeKnownHosts(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-ssh-'));
  const file = join(dir, 'known_hosts');
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
  return file;
}

/** Builds everything a function needs; `clients` default to `createClients()`. */
export async function buildRuntime(env: Env, clients: Clients = createClients()): Promise<Runtime> {
  const logger = new Logger({ serviceName: env[ENV.powertoolsServiceName] ?? SERVICE_NAME });
  const config = await loadCloudConfig(env, clients);
  const ssmClientFor = ssmClients(clients.ssm);
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
      ...(config.ssh.privateKey === undefined ? {} : { privateKey: config.ssh.privateKey }),
      ...(config.ssh.knownHosts === undefined ? {} : { knownHosts: writeKnownHosts(config.ssh.knownHosts) }),
    },
    ssmClientFor,
  });
  // The secret from Secrets Manager stands in for SPEC 5's CALLBACK_SECRET variable.
  const options = {
    ...callbackOptionsFromEnv(
      { ...env, CALLBACK_SECRET: config.callbackSecret ?? env['CALLBACK_SECRET'] },
      VERSION,
    ),
    logger: (record: CallbackLogRecord) => logger.info('callback', { ...record }),
  };
  const deliverJson = (url: string, payload: { operationId: string }) =>
    deliverCallback(url, payload, options);
  return { env, clients, config, fleet, deliver: deliverJson, deliverJson, logger };
}

/** An asynchronous invocation (`InvocationType: Event`) of a function with a JSON event. */
export async function invokeAsync(client: LambdaClient, functionName: string, event: unknown): Promise<void> {
  const answer = await client.send(
    new InvokeCommand({
      FunctionName: functionName,
      InvocationType: 'Event',
      Payload: new TextEncoder().encode(JSON.stringify(event)),
    }),
  );
  if (answer.StatusCode !== 202) {
    throw new BootstrapError('INTERNAL', `invoking ${functionName} answered ${answer.StatusCode}`, {
      functionName,
    });
  }
}

let cached: Promise<Runtime> | undefined;

/** The cold start's runtime, built on first use. */
export function runtime(): Promise<Runtime> {
  cached ??= buildRuntime(process.env).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/**
 * Hands a job on: for a fleet run past `STEP_FUNCTIONS_THRESHOLD` targets, when the batch state
 * machine is configured, to an execution of it named after the operation id (so a repeat starts
 * nothing new); otherwise to the worker, by an asynchronous Invoke of `WORKER_FUNCTION_NAME`
 * (or not at all with `inline`: the caller runs it).
 */
export async function startJob(
  rt: Runtime,
  job: WorkerJob,
  options: { inline?: boolean } = {},
): Promise<{ via: 'worker' | 'state-machine' | 'inline' }> {
  const machine = rt.env[ENV.batchStateMachineArn];
  if (job.kind === 'fleet' && machine) {
    const threshold = Number(rt.env[ENV.stepFunctionsThreshold] ?? STEP_FUNCTIONS_THRESHOLD);
    const total = rt.fleet.select(job.select).length;
    if (total > threshold) {
      const request: BatchUpgradeRequest = { select: job.select, product: job.product, version: job.version };
      if (job.maxConcurrency !== undefined) request.maxConcurrency = job.maxConcurrency;
      if (job.maxErrors !== undefined) request.maxErrors = job.maxErrors;
      if (job.canary !== undefined) request.canary = job.canary;
      if (job.healthGate !== undefined) request.healthGate = job.healthGate;
      if (job.callbackUrl !== undefined) request.callbackUrl = job.callbackUrl;
      const input: BatchExecutionInput = {
        operationId: job.operationId,
        request,
        startedAt: new Date().toISOString(),
      };
      try {
        await rt.clients.sfn.send(
          new StartExecutionCommand({
            stateMachineArn: machine,
            name: batchExecutionName(job.operationId),
            input: JSON.stringify(input),
          }),
        );
      } catch (error) {
        // A repeat with the same operation id: the execution is already there.
        if ((error as { name?: string }).name !== 'ExecutionAlreadyExists') throw error;
      }
      return { via: 'state-machine' };
    }
  }
  // The caller runs it itself (batch-upgrade), handing over to the worker only if time runs out.
  if (options.inline) return { via: 'inline' };
  await invokeAsync(rt.clients.lambda, required(rt.env, ENV.workerFunctionName), {
    job,
  } satisfies WorkerEvent);
  return { via: 'worker' };
}
