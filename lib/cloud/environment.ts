/**
 * The environment variables the stack gives the functions: the names functions/ reads and
 * infra/ sets. Kept in lib, with no CDK in it, so that infra imports them from here and nothing
 * imports infra.
 */
export const ENV = {
  /** `s3://bucket/key` of the inventory (SPEC 3.1). */
  inventorySource: 'INVENTORY_SOURCE',
  /** Secrets Manager ARN of the SSH private key (PEM or OpenSSH text as SecretString). */
  sshKeySecretArn: 'SSH_KEY_SECRET_ARN',
  /** Secrets Manager ARN of known_hosts text (OpenSSH format) for hosts without a pinned `host_key`. */
  knownHostsSecretArn: 'KNOWN_HOSTS_SECRET_ARN',
  /** SPEC 5: `true` lets callbacks reach private addresses. */
  callbackAllowPrivate: 'CALLBACK_ALLOW_PRIVATE',
  /** Secrets Manager ARN whose SecretString is SPEC 5's `CALLBACK_SECRET`. */
  callbackSecretArn: 'CALLBACK_SECRET_ARN',
  /** ARN of the fleet-run state machine (fleet upgrades), started by api and batch-upgrade. */
  fleetStateMachineArn: 'FLEET_STATE_MACHINE_ARN',
  /** ARN of the operation state machine (one server's long operation followed to its end). */
  operationStateMachineArn: 'OPERATION_STATE_MACHINE_ARN',
  /** ARN of the heartbeat state machine, started by the schedule through the heartbeat function. */
  heartbeatStateMachineArn: 'HEARTBEAT_STATE_MACHINE_ARN',
  /** Bucket of the runs' item lists, reports and results (`runs/<operationId>/…`). */
  runsBucket: 'RUNS_BUCKET',
  /** DynamoDB table of run records and delivery records. */
  runTableName: 'RUN_TABLE_NAME',
  /** The most Map children at once: below the reserved concurrency of the function they call. */
  mapConcurrencyCap: 'MAP_CONCURRENCY_CAP',
  /** SPEC 7.2: where the scheduled heartbeat POSTs its aggregated report. */
  heartbeatCallbackUrl: 'HEARTBEAT_CALLBACK_URL',
  /** The heartbeat's shard plan: one host's read (ms), a host's timeout (ms), hosts at once per shard, the period (ms), shards at once. */
  heartbeatHostCostMs: 'HEARTBEAT_HOST_COST_MS',
  heartbeatHostTimeoutMs: 'HEARTBEAT_HOST_TIMEOUT_MS',
  heartbeatConcurrency: 'HEARTBEAT_CONCURRENCY',
  heartbeatPeriodMs: 'HEARTBEAT_PERIOD_MS',
  heartbeatMaxShards: 'HEARTBEAT_MAX_SHARDS',
  /** EC2 tag of the fleet; SSM reaches only instances carrying it. */
  fleetTagKey: 'FLEET_TAG_KEY',
  fleetTagValue: 'FLEET_TAG_VALUE',
  /** Powertools for AWS Lambda: service name of logs and metrics, and the metrics namespace. */
  powertoolsServiceName: 'POWERTOOLS_SERVICE_NAME',
  powertoolsMetricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

export const SERVICE_NAME = 'cloudiq-bootstrap';
export const METRICS_NAMESPACE = 'CloudiqBootstrap';

/** Every run's objects in the runs bucket are under this prefix (and expire with it). */
export const RUNS_PREFIX = 'runs/';
