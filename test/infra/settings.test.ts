import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ContextKey, readSettings } from '../../infra/settings.ts';

const read = (context: Partial<Record<ContextKey, unknown>>) => readSettings((key) => context[key]);

describe('stack settings from context', () => {
  it('has defaults for everything, so a bare `npm run synth` works', () => {
    assert.deepEqual(read({}), {
      fleetTagKey: 'cloudiq:fleet',
      fleetTagValue: 'default',
      heartbeatSchedule: 'rate(5 minutes)',
      network: undefined,
      authorizer: { kind: 'iam' },
      logRetentionDays: 30,
      inventorySource: undefined,
      sshKeySecretArn: undefined,
      callbackSecretArn: undefined,
      knownHostsSecretArn: undefined,
      callbackAllowPrivate: false,
      heartbeatCallbackUrl: undefined,
      alarmTopicArn: undefined,
      workerReservedConcurrency: 100,
      heartbeatReservedConcurrency: 20,
      heartbeatHostCostMs: 1000,
      heartbeatAlarmHosts: 1,
    });
  });

  it('reads every key, lists from `a,b` strings or arrays, numbers from strings', () => {
    const settings = read({
      fleetTagKey: 'Fleet',
      fleetTagValue: 'prod eu',
      heartbeatSchedule: 'rate(1 minute)',
      subnetIds: 'subnet-0123456789abcdef0, subnet-01234567',
      securityGroupIds: ['sg-0123456789abcdef0'],
      authorizer: 'jwt',
      jwtIssuer: 'https://issuer.example.com/',
      jwtAudience: 'a,b',
      logRetentionDays: '365',
      inventorySource: 's3://my.bucket-1/dir/fleet.ini',
      sshKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh-AbCdEf',
      callbackSecretArn: 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:cb/x-123456',
      knownHostsSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:known_hosts-a1b2c3',
      callbackAllowPrivate: 'true',
      heartbeatCallbackUrl: 'https://ops.example.com/hb',
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:alarms',
      workerReservedConcurrency: '400',
      heartbeatReservedConcurrency: 30,
      heartbeatHostCostMs: '250',
    });
    assert.deepEqual(settings, {
      fleetTagKey: 'Fleet',
      fleetTagValue: 'prod eu',
      heartbeatSchedule: 'rate(1 minute)',
      network: {
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-01234567'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
      authorizer: { kind: 'jwt', issuer: 'https://issuer.example.com/', audience: ['a', 'b'] },
      logRetentionDays: 365,
      inventorySource: { bucket: 'my.bucket-1', key: 'dir/fleet.ini' },
      sshKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh-AbCdEf',
      callbackSecretArn: 'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:cb/x-123456',
      knownHostsSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:known_hosts-a1b2c3',
      callbackAllowPrivate: true,
      heartbeatCallbackUrl: 'https://ops.example.com/hb',
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:alarms',
      workerReservedConcurrency: 400,
      heartbeatReservedConcurrency: 30,
      heartbeatHostCostMs: 250,
      heartbeatAlarmHosts: 1,
    });
    assert.equal(read({ callbackAllowPrivate: true }).callbackAllowPrivate, true);
    assert.equal(read({ callbackAllowPrivate: 'false' }).callbackAllowPrivate, false);
    assert.equal(read({ heartbeatSchedule: 'cron(0 12 * * ? *)' }).heartbeatSchedule, 'cron(0 12 * * ? *)');
  });

  it('refuses each bad value, naming the key', () => {
    const bad: [Partial<Record<ContextKey, unknown>>, ContextKey][] = [
      [{ fleetTagKey: 'aws:fleet' }, 'fleetTagKey'],
      [{ fleetTagKey: 'a"b' }, 'fleetTagKey'],
      [{ fleetTagValue: 'x'.repeat(129) }, 'fleetTagValue'],
      [{ heartbeatSchedule: 'every 5 minutes' }, 'heartbeatSchedule'],
      [{ heartbeatSchedule: 'rate(1 minutes)' }, 'heartbeatSchedule'],
      [{ heartbeatSchedule: 'rate(5 minute)' }, 'heartbeatSchedule'],
      [{ subnetIds: 'subnet-1', securityGroupIds: 'sg-0123456789abcdef0' }, 'subnetIds'],
      [{ subnetIds: 'subnet-0123456789abcdef0' }, 'subnetIds'],
      [{ securityGroupIds: 'sg-0123456789abcdef0' }, 'subnetIds'],
      [{ subnetIds: 'subnet-0123456789abcdef0', securityGroupIds: 'group-1' }, 'securityGroupIds'],
      [{ authorizer: 'cognito' }, 'authorizer'],
      [{ authorizer: 'jwt', jwtAudience: 'a' }, 'jwtIssuer'],
      [{ authorizer: 'jwt', jwtIssuer: 'http://issuer.example.com', jwtAudience: 'a' }, 'jwtIssuer'],
      [{ authorizer: 'jwt', jwtIssuer: 'https://issuer.example.com' }, 'jwtAudience'],
      [{ logRetentionDays: '10' }, 'logRetentionDays'],
      [{ logRetentionDays: 'forever' }, 'logRetentionDays'],
      [{ inventorySource: 'https://bucket/key' }, 'inventorySource'],
      [{ inventorySource: 's3://bucket' }, 'inventorySource'],
      [{ inventorySource: 's3://Bucket/key' }, 'inventorySource'],
      [{ sshKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ssh' }, 'sshKeySecretArn'],
      [{ callbackSecretArn: 'cloudiq/callback' }, 'callbackSecretArn'],
      [{ knownHostsSecretArn: 'known_hosts' }, 'knownHostsSecretArn'],
      [{ callbackAllowPrivate: 'yes' }, 'callbackAllowPrivate'],
      [{ heartbeatCallbackUrl: 'ftp://x' }, 'heartbeatCallbackUrl'],
      [{ alarmTopicArn: 'arn:aws:sqs:us-east-1:123456789012:q' }, 'alarmTopicArn'],
      [{ fleetTagValue: { nested: true } }, 'fleetTagValue'],
      [{ workerReservedConcurrency: '10' }, 'workerReservedConcurrency'],
      [{ workerReservedConcurrency: 'many' }, 'workerReservedConcurrency'],
      [{ heartbeatReservedConcurrency: '2.5' }, 'heartbeatReservedConcurrency'],
      [{ heartbeatHostCostMs: '0' }, 'heartbeatHostCostMs'],
    ];
    for (const [context, key] of bad) {
      assert.throws(
        () => read(context),
        new RegExp(`^Error: context ${key}: expected`),
        JSON.stringify(context),
      );
    }
  });
});
