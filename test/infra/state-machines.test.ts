// The state machines as synthesized: what each state does, read from the template's definitions
// (the asl simulation in test/cloud/ runs them). Standard workflows with time limits and logs;
// the fleet run's canary loop and Distributed Map whose children never fail it; throttling
// retried with backoff on every step; the operation's Wait/Poll loop; the heartbeat's shards; a
// quick change's one Deliver step;
// reserved concurrency on the functions the Maps call, the Maps' concurrency capped below it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HEARTBEAT_STEP_HEADROOM, WORKER_STEP_HEADROOM } from '../../infra/stack.ts';
import {
  CHANGE_CALLBACK_TIMEOUT,
  LAMBDA_TRANSIENT_ERRORS,
  LAST_STEP_ATTEMPTS,
  POLL_SECONDS,
} from '../../infra/state-machines.ts';
import { assemblyDir, flatten, type Synthesized, synth } from './synth.ts';

type State = Record<string, unknown> & { Type: string };
interface Definition {
  StartAt: string;
  States: Record<string, State>;
}

function definitionOf(s: Synthesized, machine: object): Definition {
  const props = s.json.Resources[s.id(machine)]?.Properties;
  return JSON.parse(flatten(props?.['DefinitionString']) as string) as Definition;
}

describe('the state machines', () => {
  const out = assemblyDir();
  let s: Synthesized;
  let fleet: Definition;
  let operation: Definition;
  let heartbeat: Definition;
  let change: Definition;
  let worker: string;
  before(() => {
    s = synth(out.dir, { workerReservedConcurrency: 250, heartbeatReservedConcurrency: 12 });
    fleet = definitionOf(s, s.stack.machines.fleet);
    operation = definitionOf(s, s.stack.machines.operation);
    heartbeat = definitionOf(s, s.stack.machines.heartbeat);
    change = definitionOf(s, s.stack.machines.changeCallback);
    worker = `{${s.id(s.stack.functions.worker.function)}.Arn}`;
  });
  after(() => out.remove());

  const retriesThrottling = (state: State) => {
    const retry =
      (state['Retry'] as { ErrorEquals: string[]; BackoffRate: number; MaxAttempts: number }[]) ?? [];
    const rule = retry.find((r) => r.ErrorEquals.includes('Lambda.TooManyRequestsException'));
    assert.ok(rule, 'throttling is retried');
    assert.deepEqual(rule.ErrorEquals, LAMBDA_TRANSIENT_ERRORS);
    assert.equal(rule.BackoffRate, 2);
    assert.ok(rule.MaxAttempts >= 10);
    assert.equal((rule as { JitterStrategy?: string }).JitterStrategy, 'FULL');
  };

  it('are four standard workflows with time limits and error logs of their own', () => {
    // Standard, not Express: a name starts one execution, which the change callback relies on too.
    s.template.resourceCountIs('AWS::StepFunctions::StateMachine', 4);
    s.template.allResourcesProperties('AWS::StepFunctions::StateMachine', { StateMachineType: 'STANDARD' });
    const { fleet, operation, heartbeat, changeCallback } = s.stack.machines;
    for (const machine of [fleet, operation, heartbeat, changeCallback]) {
      const props = s.json.Resources[s.id(machine)]?.Properties ?? {};
      assert.equal((props['LoggingConfiguration'] as { Level: string }).Level, 'ERROR');
      assert.ok(JSON.parse(flatten(props['DefinitionString']) as string).TimeoutSeconds > 0);
    }
  });

  it('fleet run: plan, units of the pool, a canary loop one target a step, the Map only when targets are left, one aggregate', () => {
    assert.equal(fleet.StartAt, 'Plan');
    const plan = fleet.States['Plan']!;
    assert.equal(plan['Next'], 'NextStage');
    assert.equal(plan['ResultPath'], '$.plan');
    const next = fleet.States['NextStage']!;
    const canaryLeft = { Variable: '$.plan.canary.done', BooleanEquals: false };
    const fleetLeft = { Variable: '$.plan.canary.fleetCount', NumericGreaterThan: 0 };
    const holding = (stage: string) => ({ Variable: '$.plan.slots.stage', StringEquals: stage });
    assert.deepEqual(next['Choices'], [
      { And: [canaryLeft, holding('none')], Next: 'Reserve' },
      { ...canaryLeft, Next: 'Canary' },
      { And: [fleetLeft, holding('fleet')], Next: 'Fleet' },
      { ...fleetLeft, Next: 'Reserve' },
    ]);
    assert.equal(next['Default'], 'Aggregate');
    const canary = fleet.States['Canary']!;
    assert.equal(canary['Next'], 'NextStage', 'the canary step loops back');
    assert.equal(canary['ResultPath'], '$.plan.canary', 'its state, not its reports, in the execution');
    const reserve = fleet.States['Reserve']!;
    assert.equal(reserve['ResultPath'], '$.plan.slots');
    assert.deepEqual(reserve['Parameters'], {
      step: 'reserve',
      'run.$': '$',
      'execution.$': '$$.Execution.Id',
    });
    assert.equal(reserve['Next'], 'SlotsGranted');
    assert.deepEqual(reserve['Catch'], [
      { ErrorEquals: ['States.ALL'], ResultPath: '$.reserveError', Next: 'Aggregate' },
    ]);
    const granted = fleet.States['SlotsGranted']!;
    assert.deepEqual(granted['Choices'], [
      { Variable: '$.plan.slots.granted', NumericGreaterThan: 0, Next: 'NextStage' },
    ]);
    assert.equal(granted['Default'], 'WaitForSlots');
    const wait = fleet.States['WaitForSlots']!;
    assert.equal(wait['SecondsPath'], '$.plan.slots.wait');
    assert.equal(wait['Next'], 'Reserve');
    for (const name of ['Plan', 'Reserve', 'Canary', 'Aggregate']) {
      const state = fleet.States[name]!;
      assert.equal(state['Resource'], worker, name);
      retriesThrottling(state);
    }
    assert.equal(fleet.States['Aggregate']!['Next'], 'Done');
  });

  it('fleet run: the Map tolerates every child failure, reads its items and writes its results in S3', () => {
    const map = fleet.States['Fleet']!;
    assert.equal(
      map['ToleratedFailurePercentage'],
      100,
      'a failed child never fails the Map: running targets finish',
    );
    assert.equal(map['MaxConcurrencyPath'], '$.plan.slots.granted', 'as wide as the pool granted');
    assert.equal(map['Next'], 'Aggregate');
    assert.deepEqual(map['Catch'], [
      { ErrorEquals: ['States.ALL'], ResultPath: '$.fleetError', Next: 'Aggregate' },
    ]);
    const reader = map['ItemReader'] as {
      Resource: string;
      ReaderConfig: unknown;
      Parameters: Record<string, string>;
    };
    assert.equal(reader.Resource, 'arn:{AWS::Partition}:states:::s3:getObject');
    assert.equal(reader.Parameters['Key.$'], '$.plan.keys.fleet');
    const writer = map['ResultWriter'] as { Resource: string; Parameters: Record<string, string> };
    assert.equal(writer.Resource, 'arn:{AWS::Partition}:states:::s3:putObject');
    assert.equal(writer.Parameters['Prefix.$'], '$.plan.keys.results');
    assert.deepEqual(map['ItemSelector'], {
      step: 'target',
      'operationId.$': '$.operationId',
      'request.$': '$.request',
      'maxErrors.$': '$.plan.rate.maxErrors',
      'healthGate.$': '$.plan.healthGate',
      'item.$': '$$.Map.Item.Value',
    });
    const processor = map['ItemProcessor'] as {
      ProcessorConfig: { Mode: string; ExecutionType: string };
      StartAt: string;
      States: Record<string, State>;
    };
    assert.deepEqual(processor.ProcessorConfig, { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    const target = processor.States[processor.StartAt]!;
    assert.equal(target['Resource'], worker);
    assert.equal(target['Parameters'], undefined, 'the item selector is the whole payload');
    assert.equal(target['End'], true);
    retriesThrottling(target);
    assert.ok((target['Retry'] as { MaxAttempts: number }[])[0]!.MaxAttempts >= 20);
  });

  it('operation: wait, poll the journal, wait as the poll says, loop until it ends, then deliver once', () => {
    assert.equal(operation.StartAt, 'WaitForOperation');
    assert.deepEqual(operation.States['WaitForOperation'], {
      Type: 'Wait',
      Seconds: POLL_SECONDS,
      Next: 'Poll',
    });
    assert.equal(operation.States['Poll']!['Next'], 'OperationEnded');
    assert.equal(operation.States['Poll']!['ResultPath'], '$.poll');
    assert.deepEqual(operation.States['OperationEnded']!['Choices'], [
      { Variable: '$.poll.done', BooleanEquals: true, Next: 'Deliver' },
    ]);
    assert.equal(operation.States['OperationEnded']!['Default'], 'WaitToPollAgain');
    // Later waits as the poll answers them (10 s, growing to 5 minutes: lib/fleet/steps/operation.ts).
    assert.deepEqual(operation.States['WaitToPollAgain'], {
      Type: 'Wait',
      SecondsPath: '$.poll.wait',
      Next: 'Poll',
    });
    for (const name of ['Poll', 'Deliver']) retriesThrottling(operation.States[name]!);
  });

  it('change callback: one Deliver step on the worker, retried as the last step is, then done', () => {
    assert.equal(change.StartAt, 'DeliverChange');
    assert.deepEqual(Object.keys(change.States).sort(), ['ChangeDelivered', 'DeliverChange']);
    const deliver = change.States['DeliverChange']!;
    assert.equal(deliver['Resource'], worker);
    // The execution's input (the id, the server, the URL) is the step's `run`: no result, no secret.
    assert.deepEqual(deliver['Parameters'], { step: 'change-deliver', 'run.$': '$' });
    assert.equal(deliver['ResultPath'], '$.delivered');
    assert.equal(deliver['Next'], 'ChangeDelivered');
    assert.equal(change.States['ChangeDelivered']!.Type, 'Succeed');
    retriesThrottling(deliver);
    const own = (deliver['Retry'] as { ErrorEquals: string[]; MaxAttempts: number }[]).find((r) =>
      r.ErrorEquals.includes('States.TaskFailed'),
    );
    assert.equal(own?.MaxAttempts, LAST_STEP_ATTEMPTS);
    assert.equal(
      (change as Definition & { TimeoutSeconds?: number }).TimeoutSeconds,
      CHANGE_CALLBACK_TIMEOUT.toSeconds(),
    );
  });

  it('heartbeat: a plan, every shard side by side in a Map as wide as the pool granted, then the report', () => {
    assert.equal(heartbeat.StartAt, 'HeartbeatPlan');
    assert.equal(heartbeat.States['HeartbeatPlan']!['Next'], 'ShardsGranted');
    const granted = heartbeat.States['ShardsGranted']!;
    assert.deepEqual(granted['Choices'], [
      { Variable: '$.plan.granted', NumericGreaterThan: 0, Next: 'Shards' },
    ]);
    assert.equal(granted['Default'], 'WaitForShards');
    assert.equal(heartbeat.States['WaitForShards']!['SecondsPath'], '$.plan.wait');
    assert.equal(heartbeat.States['WaitForShards']!['Next'], 'HeartbeatPlan', 'none granted: plan again');
    const shards = heartbeat.States['Shards']!;
    assert.equal(shards['ToleratedFailurePercentage'], 100);
    assert.equal(shards['MaxConcurrencyPath'], '$.plan.granted');
    assert.deepEqual(shards['ItemSelector'], { step: 'heartbeat-shard', 'item.$': '$$.Map.Item.Value' });
    assert.equal(shards['Next'], 'HeartbeatReport');
    const fn = `{${s.id(s.stack.functions.heartbeat.function)}.Arn}`;
    const processor = shards['ItemProcessor'] as { StartAt: string; States: Record<string, State> };
    assert.equal(processor.States[processor.StartAt]!['Resource'], fn);
    // A shard that failed on its own (crashed, out of memory, timed out) runs again, briefly: it
    // reads only until the deadline its plan gave it, so the retry stays within the period.
    const shard = processor.States['Shard']!;
    retriesThrottling(shard);
    const retry = shard['Retry'] as { ErrorEquals: string[]; MaxAttempts: number; IntervalSeconds: number }[];
    const own = retry.find((r) => r.ErrorEquals.includes('States.TaskFailed'));
    assert.ok(own, 'the Shard task retries States.TaskFailed');
    assert.deepEqual(own.ErrorEquals, ['States.TaskFailed', 'States.Timeout', 'Lambda.Unknown']);
    assert.ok(own.MaxAttempts >= 1 && own.MaxAttempts <= 3);
    assert.ok(own.IntervalSeconds <= 5);
    assert.ok(retry.indexOf(own) > 0, 'after the transient rule, which throttling meets first');
  });

  it('reserves concurrency for the functions the Maps call, and caps the Maps below it', () => {
    const props = (name: 'worker' | 'heartbeat' | 'api' | 'batch-upgrade') =>
      s.json.Resources[s.id(s.stack.functions[name].function)]?.Properties ?? {};
    assert.equal(props('worker')['ReservedConcurrentExecutions'], 250);
    assert.equal(props('heartbeat')['ReservedConcurrentExecutions'], 12);
    assert.equal(props('api')['ReservedConcurrentExecutions'], undefined);
    const env = (name: 'worker' | 'heartbeat') =>
      (props(name)['Environment'] as { Variables: Record<string, string> }).Variables;
    assert.equal(env('worker')['MAP_CONCURRENCY_CAP'], String(250 - WORKER_STEP_HEADROOM));
    assert.equal(env('heartbeat')['HEARTBEAT_MAX_SHARDS'], String(12 - HEARTBEAT_STEP_HEADROOM));
  });
});
