/**
 * The functions' environment as their tests set it up, with their composition root for real: the
 * SYNTHESIZED definitions, the cloud peers (run table and delivery ledger on dynalite, the runs
 * bucket and the `config` bucket the inventory is read from on a loopback S3, a callback
 * receiver), a loopback Step Functions endpoint and, when there are secrets, a loopback Secrets
 * Manager; the environment variables the composition root reads; and, when asked, the runs started
 * through the real SFNClient run by the ASL simulation (test/support/asl: Step Functions cannot
 * run here). The tests import the functions themselves, after `startFunctionsEnv`.
 */
import { buildHttpEvent, type HttpResult } from '../../lib/api/http.ts';
import { present } from '../../lib/optional.ts';
import {
  type CloudPeers,
  type Definitions,
  simulatedS3,
  startCloudPeers,
  synthesizedDefinitions,
} from '../cloud/simulation.ts';
import {
  type Execution,
  type ExecutionResult,
  type Handler,
  routeByLogicalId,
  SimulatedStepFunctions,
} from '../support/asl/index.ts';
import type { Sandbox } from '../support/sandbox.ts';
import { type SecretsTestServer, startSecretsServer } from '../support/secrets-server.ts';
import { type SfnTestServer, startSfnServer } from '../support/sfn-server.ts';

/** The state machines' ARNs the functions are given. */
export const MACHINES = {
  fleet: 'arn:aws:states:us-east-1:123456789012:stateMachine:fleet-run',
  operation: 'arn:aws:states:us-east-1:123456789012:stateMachine:operation',
  heartbeat: 'arn:aws:states:us-east-1:123456789012:stateMachine:heartbeat',
  change: 'arn:aws:states:us-east-1:123456789012:stateMachine:change-callback',
};
type Machine = keyof typeof MACHINES;

/** The variable that names each state machine to the functions. */
const MACHINE_VARIABLES: Record<Machine, string> = {
  fleet: 'FLEET_STATE_MACHINE_ARN',
  operation: 'OPERATION_STATE_MACHINE_ARN',
  heartbeat: 'HEARTBEAT_STATE_MACHINE_ARN',
  change: 'CHANGE_CALLBACK_STATE_MACHINE_ARN',
};

export interface FunctionsEnvOptions {
  /** The secret the callback receiver checks signatures with. */
  callbackSecret: string;
  /** The state machines the functions are given (their `…_STATE_MACHINE_ARN`). */
  machines: Machine[];
  /** Secrets Manager's secrets by ARN; none: no Secrets Manager endpoint. */
  secrets?: Record<string, string>;
  /** More of the environment (`CALLBACK_SECRET_ARN`, `MAP_CONCURRENCY_CAP`…). */
  env?: Record<string, string>;
  /**
   * The functions the simulated state machines invoke, by logical id: each run started runs on the
   * simulation from its machine's definition. None: runs are started, never run.
   */
  invoke?: Record<string, Handler>;
}

export interface FunctionsEnv {
  definitions: Definitions;
  peers: CloudPeers;
  sfn: SfnTestServer;
  /** The loopback Secrets Manager (with `secrets` only). */
  aws: SecretsTestServer | undefined;
  /** The executions the simulation runs, in the order they were started. */
  executions: Execution[];
  /** Waits for every execution started so far, and for those they lead to. */
  finished(): Promise<ExecutionResult[]>;
  /** Waits for the executions, closes the peers and puts the environment back as it was. */
  close(): Promise<void>;
}

/** Starts the peers and sets the functions' environment (the inventory: s3://config/inventory.ini). */
export async function startFunctionsEnv(options: FunctionsEnvOptions): Promise<FunctionsEnv> {
  const saved = { ...process.env };
  const definitions = synthesizedDefinitions();
  const [peers, sfn, aws] = await Promise.all([
    startCloudPeers(definitions.bucket, options.callbackSecret),
    startSfnServer(),
    options.secrets ? startSecretsServer() : undefined,
  ]);
  peers.s3.buckets.set('config', new Map());
  for (const [arn, value] of Object.entries(options.secrets ?? {})) aws!.secrets.set(arn, value);
  Object.assign(process.env, {
    INVENTORY_SOURCE: 's3://config/inventory.ini',
    RUNS_BUCKET: definitions.bucket,
    RUN_TABLE_NAME: peers.tableName,
    ...Object.fromEntries(options.machines.map((machine) => [MACHINE_VARIABLES[machine], MACHINES[machine]])),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_ENDPOINT_URL_S3: peers.s3.endpoint,
    ...(aws ? { AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint } : {}),
    AWS_ENDPOINT_URL_SFN: sfn.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: peers.dynamo.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    ...options.env,
  });

  const executions: Execution[] = [];
  if (options.invoke) {
    const sim = new SimulatedStepFunctions({
      s3: simulatedS3(peers, definitions),
      invoke: routeByLogicalId(options.invoke),
    });
    const byArn = Object.fromEntries(
      options.machines.map((machine) => [MACHINES[machine], definitions[machine]]),
    );
    sfn.onStart = (execution) => {
      executions.push(
        sim.startExecution({
          definition: byArn[execution.stateMachineArn]!,
          name: execution.name,
          input: execution.input,
          stateMachineName: execution.stateMachineArn,
        }),
      );
    };
  }
  const finished = async () => {
    let seen = -1;
    let results: ExecutionResult[] = [];
    while (seen !== executions.length) {
      seen = executions.length;
      results = await Promise.all(executions.map((execution) => execution.result()));
    }
    return results;
  };
  return {
    definitions,
    peers,
    sfn,
    aws,
    executions,
    finished,
    close: async () => {
      await finished().catch(() => {});
      await Promise.all([peers.close(), sfn.close(), aws?.close()]);
      process.env = saved;
    },
  };
}

/** The API function's answer to one request (a JSON body, and `headers` as given). */
export async function callApi(
  api: { handler: (event: unknown) => Promise<HttpResult> },
  method: string,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
) {
  const result = await api.handler(
    buildHttpEvent({
      method,
      url,
      ...present({ headers }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  );
  return { status: result.statusCode, headers: result.headers, body: JSON.parse(result.body) };
}

/** The inventory's local hosts, one a sandbox, in `groups`. */
export function localHosts(sandboxes: Record<string, Sandbox>, groups = 'edge'): string {
  return Object.entries(sandboxes)
    .map(
      ([name, sandbox]) =>
        `[host:${name}]\ntransport = local\ngroups = ${groups}\nconfig_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\n`,
    )
    .join('\n');
}
