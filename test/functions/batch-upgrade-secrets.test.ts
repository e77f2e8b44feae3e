// Least privilege (SPEC 7.5, the brief's "Secrets Manager read only of the key secret" for the
// functions that need it): the batch-upgrade function only validates, records and starts a run,
// so its cold start reads no secret — neither the SSH key nor known_hosts nor the callback
// secret — even where its environment names them. Real peers: the inventory on a loopback S3,
// the run table on dynalite, the loopback Secrets Manager (which counts its calls) and Step
// Functions endpoints.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as BatchFunction from '../../functions/batch-upgrade.ts';
import {
  type CloudPeers,
  type Definitions,
  startCloudPeers,
  synthesizedDefinitions,
} from '../cloud/simulation.ts';
import { type SecretsTestServer, startSecretsServer } from '../support/secrets-server.ts';
import { type SfnTestServer, startSfnServer } from '../support/sfn-server.ts';

const SECRETS = {
  ssh: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh-key-Ab12Cd',
  knownHosts: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:known-hosts-Ef34Gh',
  callback: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-Ij56Kl',
};
const FLEET = 'arn:aws:states:us-east-1:123456789012:stateMachine:fleet-run';

describe('batch-upgrade reads no secret', () => {
  let definitions: Definitions;
  let peers: CloudPeers;
  let aws: SecretsTestServer;
  let sfn: SfnTestServer;
  let batch: typeof BatchFunction;
  let keyDir = '';
  const saved = { ...process.env };

  before(async () => {
    definitions = synthesizedDefinitions();
    [peers, aws, sfn] = await Promise.all([
      startCloudPeers(definitions.bucket, 'secret'),
      startSecretsServer(),
      startSfnServer(),
    ]);
    keyDir = mkdtempSync(join(tmpdir(), 'cloudiq-batch-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
    aws.secrets.set(SECRETS.ssh, readFileSync(join(keyDir, 'key'), 'utf8'));
    aws.secrets.set(SECRETS.knownHosts, `10.0.0.5 ${readFileSync(join(keyDir, 'key.pub'), 'utf8')}`);
    aws.secrets.set(SECRETS.callback, 'callback-secret');
    peers.s3.buckets.set('config', new Map());
    peers.s3.put(
      'config',
      'inventory.ini',
      '[host:db-01]\ntransport = ssh\naddress = 10.0.0.5\nuser = ops\ngroups = db\n\n[host:db-02]\ntransport = ssh\naddress = 10.0.0.6\nuser = ops\ngroups = db\n',
    );
    Object.assign(process.env, {
      INVENTORY_SOURCE: 's3://config/inventory.ini',
      SSH_KEY_SECRET_ARN: SECRETS.ssh,
      KNOWN_HOSTS_SECRET_ARN: SECRETS.knownHosts,
      CALLBACK_SECRET_ARN: SECRETS.callback,
      RUNS_BUCKET: definitions.bucket,
      RUN_TABLE_NAME: peers.tableName,
      FLEET_STATE_MACHINE_ARN: FLEET,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
      AWS_ENDPOINT_URL_S3: peers.s3.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
      AWS_ENDPOINT_URL_SFN: sfn.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: peers.dynamo.endpoint,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    batch = await import('../../functions/batch-upgrade.ts');
  });

  after(async () => {
    await Promise.all([peers.close(), aws.close(), sfn.close()]);
    rmSync(keyDir, { recursive: true, force: true });
    process.env = saved;
  });

  it('starts the run with the callback URL it was given, and never asks Secrets Manager', async () => {
    const answer = await batch.handler({
      select: 'db',
      product: 'deepfiler',
      version: '4.1',
      operationId: 'console-lean-1',
      callbackUrl: 'https://hooks.example.com/done',
    });
    assert.deepEqual(answer, {
      operationId: 'console-lean-1',
      executionArn: `${FLEET.replace(':stateMachine:', ':execution:')}:console-lean-1`,
      followAt: '/fleet/operations/console-lean-1',
    });
    assert.deepEqual(
      sfn.calls.map((c) => c.name),
      ['console-lean-1'],
    );
    assert.deepEqual(
      aws.calls.map((c) => `${c.target} ${String(c.input['SecretId'])}`),
      [],
      'no secret was read',
    );
  });
});
