/**
 * The environment variables the stack gives the functions: the names functions/ reads. Plain
 * constants with no CDK in them, so the handlers' composition root can import the same names.
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
  /** Name of the worker function, invoked asynchronously for long operations. */
  workerFunctionName: 'WORKER_FUNCTION_NAME',
  /** ARN of the batch-upgrade state machine, started past the threshold. */
  batchStateMachineArn: 'BATCH_STATE_MACHINE_ARN',
  /** Bucket of the state machine's item lists and results (`runs/<operationId>/…`). */
  batchRunsBucket: 'BATCH_RUNS_BUCKET',
  /** Selections larger than this many targets go to the state machine. */
  stepFunctionsThreshold: 'STEP_FUNCTIONS_THRESHOLD',
  runTableName: 'RUN_TABLE_NAME',
  /** SPEC 7.2: where the scheduled heartbeat POSTs its aggregated report. */
  heartbeatCallbackUrl: 'HEARTBEAT_CALLBACK_URL',
  /** EC2 tag of the fleet; SSM reaches only instances carrying it. */
  fleetTagKey: 'FLEET_TAG_KEY',
  fleetTagValue: 'FLEET_TAG_VALUE',
  /** Powertools for AWS Lambda: service name of logs and metrics, and the metrics namespace. */
  powertoolsServiceName: 'POWERTOOLS_SERVICE_NAME',
  powertoolsMetricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

export const SERVICE_NAME = 'cloudiq-bootstrap';
export const METRICS_NAMESPACE = 'CloudiqBootstrap';
