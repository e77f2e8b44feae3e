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
import { type FunctionsEnv, MACHINES, startFunctionsEnv } from './functions-env.ts';

const SECRETS = {
  ssh: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh-key-Ab12Cd',
  knownHosts: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:known-hosts-Ef34Gh',
  callback: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-Ij56Kl',
};
const FLEET = MACHINES.fleet;

describe('batch-upgrade reads no secret', () => {
  let env: FunctionsEnv;
  let batch: typeof BatchFunction;
  let keyDir = '';

  before(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'cloudiq-batch-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'key')]);
    env = await startFunctionsEnv({
      callbackSecret: 'secret',
      machines: ['fleet'],
      secrets: {
        [SECRETS.ssh]: readFileSync(join(keyDir, 'key'), 'utf8'),
        [SECRETS.knownHosts]: `10.0.0.5 ${readFileSync(join(keyDir, 'key.pub'), 'utf8')}`,
        [SECRETS.callback]: 'callback-secret',
      },
      env: {
        SSH_KEY_SECRET_ARN: SECRETS.ssh,
        KNOWN_HOSTS_SECRET_ARN: SECRETS.knownHosts,
        CALLBACK_SECRET_ARN: SECRETS.callback,
      },
    });
    env.peers.s3.put(
      'config',
      'inventory.ini',
      '[host:db-01]\ntransport = ssh\naddress = 10.0.0.5\nuser = ops\ngroups = db\n\n[host:db-02]\ntransport = ssh\naddress = 10.0.0.6\nuser = ops\ngroups = db\n',
    );
    batch = await import('../../functions/batch-upgrade.ts');
  });

  after(async () => {
    await env?.close();
    rmSync(keyDir, { recursive: true, force: true });
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
      env.sfn.calls.map((c) => c.name),
      ['console-lean-1'],
    );
    assert.deepEqual(
      env.aws!.calls.map((c) => `${c.target} ${String(c.input['SecretId'])}`),
      [],
      'no secret was read',
    );
  });
});
