// The functions' configuration read through the real SDK clients: the inventory from S3, SSM
// Parameter Store or a file, the SSH key, known_hosts and callback secret from Secrets Manager,
// and the runs bucket, each against a loopback
// endpoint that speaks the service's own protocol.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { KNOWN_HOSTS_SECRET_ARN, loadCloudConfig } from '../../functions/composition.ts';
import { createS3BlobStore } from '../../lib/cloud/s3-blobs.ts';
import { parseInventorySource, parseSshKeySecret, readSecret } from '../../lib/cloud/sources.ts';
import { BootstrapError } from '../../lib/errors.ts';
import { createTestS3Client, type S3TestServer, startS3Server } from '../support/s3-server.ts';
import {
  createTestParameterClient,
  createTestSecretsClient,
  type SecretsTestServer,
  startSecretsServer,
} from '../support/secrets-server.ts';

const INVENTORY = `[defaults]
transport = ssh
user = cloudiq

[host:web-1]
address = 10.0.1.11
groups = edge, eu

[host:worker-7]
transport = ssm
instance_id = i-0123456789abcdef0
groups = workers
`;

const KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDtestkeytestkeytestkeytestkeytestkeytestkeytestkQAAAJg=
-----END OPENSSH PRIVATE KEY-----`;
const KEY_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh-key-AbCdEf';
const HOSTS_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:known-hosts-AbCdEf';
const CALLBACK_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:callback-AbCdEf';

function rejectsWith(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('configuration from S3, SSM and Secrets Manager', () => {
  let s3: S3TestServer;
  let aws: SecretsTestServer;
  let dir = '';
  const clients = () => ({
    s3: createTestS3Client(s3),
    ssm: createTestParameterClient(aws),
    secrets: createTestSecretsClient(aws),
  });

  before(async () => {
    [s3, aws] = await Promise.all([startS3Server(['fleet-config']), startSecretsServer()]);
    s3.put('fleet-config', 'inventories/prod.ini', INVENTORY);
    aws.parameters.set('/cloudiq/inventory', INVENTORY);
    aws.secrets.set(KEY_ARN, KEY);
    aws.secrets.set(HOSTS_ARN, '10.0.1.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfWeb1\n');
    aws.secrets.set(CALLBACK_ARN, 'callback-secret-value\n');
    dir = mkdtempSync(join(tmpdir(), 'sources-'));
    writeFileSync(join(dir, 'inventory.ini'), INVENTORY);
  });

  after(async () => {
    await Promise.all([s3.close(), aws.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the inventory from S3 and every secret from Secrets Manager', async () => {
    const config = await loadCloudConfig(
      {
        INVENTORY_SOURCE: 's3://fleet-config/inventories/prod.ini',
        SSH_KEY_SECRET_ARN: KEY_ARN,
        [KNOWN_HOSTS_SECRET_ARN]: HOSTS_ARN,
        CALLBACK_SECRET_ARN: CALLBACK_ARN,
      },
      clients(),
    );
    assert.deepEqual(
      config.inventory.hosts.map((host) => [host.name, host.transport, host.groups]),
      [
        ['web-1', 'ssh', ['edge', 'eu']],
        ['worker-7', 'ssm', ['workers']],
      ],
    );
    assert.equal(config.inventory.file, 's3://fleet-config/inventories/prod.ini');
    assert.equal(config.ssh.privateKey, `${KEY}\n`);
    assert.match(config.ssh.knownHosts ?? '', /^10\.0\.1\.11 ssh-ed25519 /);
    assert.equal(config.callbackSecret, 'callback-secret-value');
    const s3Get = s3.requests.find((request) => request.key === 'inventories/prod.ini');
    assert.equal(s3Get?.method, 'GET');
    assert.match(s3Get?.authorization ?? '', /Credential=AKIDTEST\/\d{8}\/us-east-1\/s3\/aws4_request/);
    const secretIds = aws.calls
      .filter((call) => call.target === 'secretsmanager.GetSecretValue')
      .map((call) => call.input['SecretId']);
    assert.deepEqual(new Set(secretIds), new Set([KEY_ARN, HOSTS_ARN, CALLBACK_ARN]));
  });

  it('reads the inventory from SSM Parameter Store, decrypted, and from a bundled file', async () => {
    const fromSsm = await loadCloudConfig({ INVENTORY_SOURCE: 'ssm:/cloudiq/inventory' }, clients());
    assert.deepEqual(
      fromSsm.inventory.hosts.map((host) => host.name),
      ['web-1', 'worker-7'],
    );
    const call = aws.calls.find((entry) => entry.target === 'AmazonSSM.GetParameter');
    assert.deepEqual(call?.input, { Name: '/cloudiq/inventory', WithDecryption: true });
    assert.deepEqual(fromSsm.ssh, {});
    assert.equal(fromSsm.callbackSecret, undefined);

    const fromFile = await loadCloudConfig(
      { INVENTORY_SOURCE: 'file:inventory.ini', LAMBDA_TASK_ROOT: dir },
      clients(),
    );
    assert.equal(fromFile.inventory.hosts.length, 2);
  });

  it('names the source, never a secret, when something cannot be read', async () => {
    await assert.rejects(
      loadCloudConfig({ INVENTORY_SOURCE: 's3://fleet-config/missing.ini' }, clients()),
      rejectsWith('CONFIG_ERROR', /s3:\/\/fleet-config\/missing\.ini: cannot read the inventory: NoSuchKey/),
    );
    await assert.rejects(
      loadCloudConfig({ INVENTORY_SOURCE: 's3://no-such-bucket/inventory.ini' }, clients()),
      rejectsWith('CONFIG_ERROR', /NoSuchBucket/),
    );
    await assert.rejects(
      loadCloudConfig({ INVENTORY_SOURCE: 'ssm:/cloudiq/missing' }, clients()),
      rejectsWith('CONFIG_ERROR', /ssm:\/cloudiq\/missing: .*ParameterNotFound/),
    );
    await assert.rejects(
      loadCloudConfig(
        { INVENTORY_SOURCE: 'ssm:/cloudiq/inventory', SSH_KEY_SECRET_ARN: `${KEY_ARN}-gone` },
        clients(),
      ),
      rejectsWith('CONFIG_ERROR', /ssh-key-AbCdEf-gone: cannot read the secret: ResourceNotFoundException/),
    );
    await assert.rejects(
      loadCloudConfig({}, clients()),
      rejectsWith('CONFIG_ERROR', /INVENTORY_SOURCE is not set/),
    );
    await assert.rejects(
      loadCloudConfig({ INVENTORY_SOURCE: 'https://example.com/inventory.ini' }, clients()),
      rejectsWith('CONFIG_ERROR', /expected s3:\/\/bucket\/key/),
    );
    aws.secrets.set('bad-key', 'not a key at all: hunter2');
    await assert.rejects(
      loadCloudConfig(
        { INVENTORY_SOURCE: 'ssm:/cloudiq/inventory', SSH_KEY_SECRET_ARN: 'bad-key' },
        clients(),
      ),
      (error: unknown) => {
        assert.ok(error instanceof BootstrapError);
        assert.equal(error.code, 'CONFIG_ERROR');
        assert.doesNotMatch(`${error.message} ${JSON.stringify(error.details)}`, /hunter2/);
        return true;
      },
    );
    // A broken inventory is the inventory parser's CONFIG_ERROR, naming the source.
    s3.put('fleet-config', 'broken.ini', '[defaults]\ntransport = carrier-pigeon\n[host:web-1]\n');
    await assert.rejects(
      loadCloudConfig({ INVENTORY_SOURCE: 's3://fleet-config/broken.ini' }, clients()),
      rejectsWith('CONFIG_ERROR', /^s3:\/\/fleet-config\/broken\.ini: \[defaults\] transport/),
    );
    // One host's malformed section is kept with that host (it fails as a target), naming the source.
    s3.put('fleet-config', 'one-host.ini', '[host:web-1]\ntransport = carrier-pigeon\n[host:web-2]\n');
    const kept = await loadCloudConfig({ INVENTORY_SOURCE: 's3://fleet-config/one-host.ini' }, clients());
    assert.deepEqual(
      kept.inventory.hosts.map((host) => [host.name, host.problem?.details['key'] ?? null]),
      [
        ['web-1', 'transport'],
        ['web-2', null],
      ],
    );
    assert.match(
      kept.inventory.hosts[0]?.problem?.message ?? '',
      /^s3:\/\/fleet-config\/one-host\.ini: \[host:web-1\] transport/,
    );
  });

  it('parses sources and key secrets', async () => {
    assert.deepEqual(parseInventorySource('s3://my.bucket-1/a/b/c.ini'), {
      kind: 's3',
      bucket: 'my.bucket-1',
      key: 'a/b/c.ini',
    });
    assert.deepEqual(parseInventorySource('ssm:/a/b'), { kind: 'ssm', name: '/a/b' });
    assert.deepEqual(parseInventorySource('file:/opt/inventory.ini'), {
      kind: 'file',
      path: '/opt/inventory.ini',
    });
    assert.throws(() => parseInventorySource('s3://bucket-only'), rejectsWith('CONFIG_ERROR'));
    assert.deepEqual(parseSshKeySecret(JSON.stringify({ privateKey: KEY }), 'id'), {
      privateKey: `${KEY}\n`,
    });
    assert.throws(
      () => parseSshKeySecret(JSON.stringify({ privateKey: KEY, passphrase: 'pw' }), 'id'),
      rejectsWith('CONFIG_ERROR', /passphrase/),
    );
    assert.throws(() => parseSshKeySecret('{"privateKey": 3}', 'id'), rejectsWith('CONFIG_ERROR'));
    // A malformed secret's error carries none of its text, not even in a cause.
    const malformed = `{"privateKey": ${KEY}`;
    try {
      parseSshKeySecret(malformed, 'id');
      assert.fail('expected CONFIG_ERROR');
    } catch (error) {
      assert.equal((error as BootstrapError).code, 'CONFIG_ERROR');
      assert.equal((error as Error).cause, undefined);
      assert.ok(!inspect(error).includes(KEY.split('\n')[1]!.slice(0, 12)), 'no key text in the error');
    }
    assert.equal(await readSecret(createTestSecretsClient(aws), CALLBACK_ARN), 'callback-secret-value\n');
  });

  it('reads and writes the runs bucket; a missing object is undefined, not an error', async () => {
    s3.buckets.set('runs', new Map());
    const blobs = createS3BlobStore(createTestS3Client(s3), 'runs');
    assert.equal(blobs.bucket, 'runs');
    for (const name of ['a', 'b']) await blobs.put(`runs/op_1/${name}.json`, `{"n":"${name}"}`);
    assert.equal(await blobs.get('runs/op_1/b.json'), '{"n":"b"}');
    assert.equal(s3.text('runs', 'runs/op_1/a.json'), '{"n":"a"}');
    assert.equal(await blobs.get('runs/op_1/none.json'), undefined);
    await assert.rejects(
      createS3BlobStore(createTestS3Client(s3), 'no-bucket').get('x'),
      /NoSuchBucket|bucket/i,
    );
  });
});
