// Run Command's permissions (SPEC 7.5, least privilege): only the functions that reach hosts
// (api, worker, heartbeat) may send, follow or cancel commands — batch-upgrade validates, records
// and starts an execution — and they may send in the regions the operator lists (SPEC 3.1's
// per-host and per-source `region`), the stack's own by default.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ContextKey, readSettings } from '../../infra/settings.ts';
import { assemblyDir, flatten, type Synthesized, statementsOfRole, synth } from './synth.ts';

const RUN_COMMAND_ACTIONS = [
  'ssm:SendCommand',
  'ssm:GetCommandInvocation',
  'ssm:ListCommandInvocations',
  'ssm:CancelCommand',
];

function statements(s: Synthesized, fn: { role: object }) {
  return statementsOfRole(s.json, s.id(fn.role)).map((st) => ({
    ...st,
    Action: [st.Action].flat(),
    Resource: [flatten(st.Resource)].flat() as string[],
  }));
}

function runCommandActions(s: Synthesized, fn: { role: object }): string[] {
  const actions = statements(s, fn).flatMap((st) => st.Action);
  return [...new Set(actions.filter((action) => RUN_COMMAND_ACTIONS.includes(action)))].sort();
}

function sendResources(s: Synthesized, fn: { role: object }, sid: string): string[] {
  const found = statements(s, fn).filter((st) => st.Sid === sid);
  assert.equal(found.length, 1, sid);
  assert.deepEqual(found[0]!.Action, ['ssm:SendCommand']);
  return [...found[0]!.Resource].sort();
}

describe('Run Command: only the functions that reach hosts, in the regions configured', () => {
  const out = assemblyDir();
  let s: Synthesized;
  let regional: Synthesized;
  before(() => {
    s = synth(out.dir);
    regional = synth(out.dir, { fleetRegions: 'eu-west-1, us-east-1', fleetTagKey: 'Fleet' });
  });
  after(() => out.remove());

  it('batch-upgrade may not send, follow or cancel a command', () => {
    for (const synthesized of [s, regional]) {
      assert.deepEqual(runCommandActions(synthesized, synthesized.stack.functions['batch-upgrade']), []);
    }
  });

  it('batch-upgrade keeps what it uses: the inventory (and its sources), the run table, StartExecution', () => {
    const sids = statements(s, s.stack.functions['batch-upgrade'])
      .map((st) => st.Sid ?? st.Action.join(','))
      .sort();
    assert.deepEqual(sids, [
      'ListDynamicInventory',
      'ReadInventory',
      'StartRuns',
      'WriteLogs',
      'dynamodb:GetItem,dynamodb:PutItem,dynamodb:UpdateItem,dynamodb:DeleteItem',
    ]);
  });

  it('api, worker and heartbeat send, follow and cancel commands', () => {
    const { api, worker, heartbeat } = s.stack.functions;
    for (const fn of [api, worker, heartbeat]) {
      assert.deepEqual(runCommandActions(s, fn), [...RUN_COMMAND_ACTIONS].sort());
    }
  });

  it('by default, the document and the tagged instances of the stack’s own region', () => {
    for (const fn of [s.stack.functions.api, s.stack.functions.worker, s.stack.functions.heartbeat]) {
      assert.deepEqual(sendResources(s, fn, 'SendRunShellScript'), [
        'arn:{AWS::Partition}:ssm:{AWS::Region}::document/AWS-RunShellScript',
      ]);
      assert.deepEqual(sendResources(s, fn, 'SendToFleetInstances'), [
        'arn:{AWS::Partition}:ec2:{AWS::Region}:{AWS::AccountId}:instance/*',
        'arn:{AWS::Partition}:ssm:{AWS::Region}:{AWS::AccountId}:managed-instance/*',
      ]);
    }
  });

  it('with fleetRegions, the document and the tagged instances of exactly those regions', () => {
    const { api, worker, heartbeat } = regional.stack.functions;
    for (const fn of [api, worker, heartbeat]) {
      assert.deepEqual(sendResources(regional, fn, 'SendRunShellScript'), [
        'arn:{AWS::Partition}:ssm:eu-west-1::document/AWS-RunShellScript',
        'arn:{AWS::Partition}:ssm:us-east-1::document/AWS-RunShellScript',
      ]);
      assert.deepEqual(sendResources(regional, fn, 'SendToFleetInstances'), [
        'arn:{AWS::Partition}:ec2:eu-west-1:{AWS::AccountId}:instance/*',
        'arn:{AWS::Partition}:ec2:us-east-1:{AWS::AccountId}:instance/*',
        'arn:{AWS::Partition}:ssm:eu-west-1:{AWS::AccountId}:managed-instance/*',
        'arn:{AWS::Partition}:ssm:us-east-1:{AWS::AccountId}:managed-instance/*',
      ]);
      const tagged = statements(regional, fn).find((st) => st.Sid === 'SendToFleetInstances');
      assert.deepEqual(tagged?.Condition, { StringEquals: { 'ssm:resourceTag/Fleet': 'default' } });
    }
  });

  it('no SendCommand resource names every region', () => {
    for (const synthesized of [s, regional]) {
      for (const fn of Object.values(synthesized.stack.functions)) {
        for (const st of statements(synthesized, fn)) {
          if (!st.Action.includes('ssm:SendCommand')) continue;
          for (const resource of st.Resource) {
            assert.doesNotMatch(resource, /^arn:[^:]+:(ssm|ec2):\*:/, resource);
            assert.notEqual(resource, '*');
          }
        }
      }
    }
  });
});

describe('the fleetRegions setting', () => {
  const read = (context: Partial<Record<ContextKey, unknown>>) =>
    readSettings((key) => (context as Record<string, unknown>)[key]);

  it('is absent by default (the stack’s own region), a list of regions when given', () => {
    assert.equal(read({}).fleetRegions, undefined);
    assert.deepEqual(read({ fleetRegions: 'eu-west-1,us-gov-west-1' }).fleetRegions, [
      'eu-west-1',
      'us-gov-west-1',
    ]);
    assert.deepEqual(read({ fleetRegions: ['ap-southeast-2', 'eu-west-1', 'ap-southeast-2'] }).fleetRegions, [
      'ap-southeast-2',
      'eu-west-1',
    ]);
  });

  it('refuses what is not a region, naming the setting', () => {
    for (const value of ['*', 'eu-west', 'EU-WEST-1', 'eu-west-1,*', 'arn:aws:ssm:eu-west-1']) {
      assert.throws(
        () => read({ fleetRegions: value }),
        /^Error: context fleetRegions: expected AWS regions/,
        value,
      );
    }
  });
});
