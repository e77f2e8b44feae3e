import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { present } from '../../lib/optional.ts';
import {
  ExecutionAlreadyExists,
  LambdaServiceError,
  SimulatedStepFunctions,
  StatesError,
} from '../support/asl/index.ts';
import { echo, lambdaTask, runDefinition } from './run.ts';

class HostUnreachable extends Error {
  override name = 'HostUnreachable';
}

const taskWith = (fields: object) => ({
  StartAt: 'T',
  States: { T: { ...lambdaTask('f'), End: true, ...fields }, Caught: { Type: 'Pass', End: true } },
});

/** Fails the first `failures` calls with the given error, then answers `{ ok: true }`; records virtual times. */
function flaky(failures: number, error: () => Error) {
  const calls: number[] = [];
  let sim: SimulatedStepFunctions | undefined;
  return {
    calls,
    bind: (s: SimulatedStepFunctions) => {
      sim = s;
    },
    invoke: async () => {
      calls.push(sim!.clock.now());
      if (calls.length <= failures) throw error();
      return { ok: true };
    },
  };
}

async function runFlaky(definition: object, f: ReturnType<typeof flaky>, seed?: number) {
  const sim = new SimulatedStepFunctions({ invoke: f.invoke, ...present({ seed }) });
  f.bind(sim);
  const execution = sim.startExecution({ definition, input: {} });
  const result = await execution.result();
  return { result, delays: f.calls.slice(1).map((t, i) => (t - f.calls[i]!) / 1000), execution };
}

describe('ASL errors, Retry and Catch', () => {
  it('maps a function error as Lambda does: Error = the error name, Cause = {errorType, errorMessage, trace}', async () => {
    const invoke = async () => {
      throw new HostUnreachable('no route to 10.0.0.9');
    };
    const { result } = await runDefinition(taskWith({}), {}, { invoke });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'HostUnreachable');
    const cause = JSON.parse(result.cause!);
    assert.equal(cause.errorType, 'HostUnreachable');
    assert.equal(cause.errorMessage, 'no route to 10.0.0.9');
    assert.ok(Array.isArray(cause.trace));
  });

  it('names Lambda service errors Lambda.<name>, so a throttling retrier catches them and not function errors', async () => {
    const f = flaky(2, () => new LambdaServiceError('TooManyRequestsException', 'Rate Exceeded.'));
    const def = taskWith({
      Retry: [{ ErrorEquals: ['Lambda.TooManyRequestsException'], IntervalSeconds: 1, MaxAttempts: 5 }],
    });
    const { result, delays } = await runFlaky(def, f);
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(delays, [1, 2]);
    const g = flaky(1, () => new Error('TooManyRequestsException'));
    const other = await runFlaky(def, g);
    assert.equal(other.result.error, 'Error');
  });

  it('backs off IntervalSeconds × BackoffRate^n on the virtual clock, capped by MaxDelaySeconds', async () => {
    const f = flaky(5, () => new Error('boom'));
    const def = taskWith({
      Retry: [
        {
          ErrorEquals: ['States.ALL'],
          IntervalSeconds: 3,
          BackoffRate: 2,
          MaxAttempts: 5,
          MaxDelaySeconds: 20,
        },
      ],
    });
    const { result, delays } = await runFlaky(def, f);
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(delays, [3, 6, 12, 20, 20]);
    assert.equal(result.stopDate - result.startDate, 61_000);
  });

  it('uses the defaults (1 s, ×2, 3 attempts) and stops after MaxAttempts', async () => {
    const f = flaky(10, () => new Error('boom'));
    const { result, delays } = await runFlaky(
      taskWith({ Retry: [{ ErrorEquals: ['States.TaskFailed'] }] }),
      f,
    );
    assert.equal(result.error, 'Error');
    assert.deepEqual(delays, [1, 2, 4]);
  });

  it('never retries with MaxAttempts 0', async () => {
    const f = flaky(10, () => new Error('boom'));
    const { delays } = await runFlaky(
      taskWith({ Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 0 }] }),
      f,
    );
    assert.deepEqual(delays, []);
    assert.equal(f.calls.length, 1);
  });

  it('draws FULL jitter below the backoff delay, reproducibly per seed', async () => {
    const def = taskWith({
      Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 10, MaxAttempts: 3, JitterStrategy: 'FULL' }],
    });
    const a = await runFlaky(
      def,
      flaky(3, () => new Error('x')),
      42,
    );
    const b = await runFlaky(
      def,
      flaky(3, () => new Error('x')),
      42,
    );
    assert.deepEqual(a.delays, b.delays);
    for (const [i, d] of a.delays.entries()) assert.ok(d >= 0 && d < 10 * 2 ** i, `delay ${d}`);
    assert.notDeepEqual(a.delays, [10, 20, 40]);
  });

  it('lets the first matching retrier decide; once spent, the error goes to Catch, not later retriers', async () => {
    const f = flaky(10, () => new HostUnreachable('down'));
    const def = taskWith({
      Retry: [
        { ErrorEquals: ['HostUnreachable'], MaxAttempts: 1, IntervalSeconds: 1 },
        { ErrorEquals: ['States.ALL'], MaxAttempts: 5, IntervalSeconds: 1 },
      ],
      Catch: [{ ErrorEquals: ['HostUnreachable'], ResultPath: '$.error', Next: 'Caught' }],
    });
    const { result } = await runFlaky(def, f);
    assert.equal(f.calls.length, 2);
    assert.equal(result.status, 'SUCCEEDED');
    const out = result.output as { error: { Error: string; Cause: string } };
    assert.equal(out.error.Error, 'HostUnreachable');
    assert.equal(JSON.parse(out.error.Cause).errorMessage, 'down');
  });

  it('replaces the input with {Error, Cause} under Catch without ResultPath; Fail reports Error/Cause and their paths', async () => {
    const def = {
      StartAt: 'T',
      States: {
        T: { ...lambdaTask('f'), Catch: [{ ErrorEquals: ['States.ALL'], Next: 'F' }], End: true },
        F: { Type: 'Fail', ErrorPath: '$.Error', CausePath: "States.Format('caught: {}', $.Error)" },
      },
    };
    const invoke = async () => {
      throw new StatesError('Custom.Error', 'why');
    };
    const { result } = await runDefinition(def, {}, { invoke });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'Custom.Error');
    assert.equal(result.cause, 'caught: Custom.Error');
    const plain = await runDefinition(
      { StartAt: 'F', States: { F: { Type: 'Fail', Error: 'E', Cause: 'C' } } },
      {},
    );
    assert.deepEqual([plain.result.error, plain.result.cause], ['E', 'C']);
  });

  it('answers the direct function ARN resource with the handler result itself', async () => {
    const def = {
      StartAt: 'T',
      States: { T: { Type: 'Task', Resource: 'arn:aws:lambda:sim:000000000000:function:Fn', End: true } },
    };
    const seen: unknown[] = [];
    const { result } = await runDefinition(
      def,
      { a: 1 },
      {
        invoke: async (t, p, ctx) => {
          seen.push([t, ctx.logicalId]);
          return p;
        },
      },
    );
    assert.deepEqual(result.output, { a: 1 });
    assert.deepEqual(seen, [['arn:aws:lambda:sim:000000000000:function:Fn', 'Fn']]);
  });

  it('answers lambda:invoke with StatusCode 200, ExecutionVersion and the Payload', async () => {
    const def = { StartAt: 'T', States: { T: { ...lambdaTask('f'), OutputPath: '$' } } };
    delete (def.States.T as Record<string, unknown>).OutputPath;
    (def.States.T as Record<string, unknown>).End = true;
    const { result } = await runDefinition(def, { a: 1 }, { invoke: echo });
    const out = result.output as Record<string, unknown>;
    assert.equal(out.StatusCode, 200);
    assert.equal(out.ExecutionVersion, '$LATEST');
    assert.deepEqual(out.Payload, { a: 1 });
  });

  it('prefixes service errors of other integrations: DynamoDB. (optimized), <Service>.<Name>Exception (aws-sdk)', async () => {
    const conditional = () => {
      throw Object.assign(new Error('The conditional request failed'), {
        name: 'ConditionalCheckFailedException',
        $metadata: { httpStatusCode: 400 },
      });
    };
    const task = (Resource: string) => ({
      StartAt: 'T',
      States: { T: { Type: 'Task', Resource, Parameters: { TableName: 'runs' }, End: true } },
    });
    const optimized = await runDefinition(
      task('arn:aws:states:::dynamodb:updateItem'),
      {},
      { invoke: conditional },
    );
    assert.equal(optimized.result.error, 'DynamoDB.ConditionalCheckFailedException');
    const sdk = await runDefinition(
      task('arn:aws:states:::aws-sdk:s3:createBucket'),
      {},
      {
        invoke: async () => {
          throw Object.assign(new Error('exists'), { name: 'BucketAlreadyExists', $metadata: {} });
        },
      },
    );
    assert.equal(sdk.result.error, 'S3.BucketAlreadyExistsException');
  });

  it('fails an execution at 25,000 history events (a loop that never ends)', async () => {
    const def = {
      StartAt: 'Poll',
      States: {
        Poll: { ...lambdaTask('poll'), Next: 'Again' },
        Again: { Type: 'Wait', Seconds: 30, Next: 'Poll' },
      },
    };
    const { result } = await runDefinition(def, {}, { invoke: echo });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
    assert.match(result.cause ?? '', /maximum number of history events \(25000\)/);
    // Each round: Task entered, scheduled, started, succeeded, exited; Wait entered, exited = 7.
    assert.equal(Math.round((result.stopDate - result.startDate) / 30_000), Math.floor(24_999 / 7));
  });

  it('times the execution out at the machine TimeoutSeconds', async () => {
    const def = { TimeoutSeconds: 30, StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 60, End: true } } };
    const { result } = await runDefinition(def, {});
    assert.equal(result.status, 'TIMED_OUT');
    assert.equal(result.error, 'States.Timeout');
    assert.equal(result.stopDate - result.startDate, 30_000);
  });
});

describe('ASL StartExecution name idempotency', () => {
  const def = { StartAt: 'W', States: { W: { Type: 'Wait', Seconds: 5, End: true } } };

  it('answers the running execution for the same name and input; ExecutionAlreadyExists otherwise or once closed', async () => {
    const sim = new SimulatedStepFunctions();
    const first = sim.startExecution({ definition: def, name: 'op-1', input: { a: 1 } });
    assert.equal(sim.startExecution({ definition: def, name: 'op-1', input: '{"a":1}' }), first);
    assert.throws(
      () => sim.startExecution({ definition: def, name: 'op-1', input: { a: 2 } }),
      ExecutionAlreadyExists,
    );
    await first.result();
    assert.throws(
      () => sim.startExecution({ definition: def, name: 'op-1', input: { a: 1 } }),
      ExecutionAlreadyExists,
    );
    assert.ok(
      sim.startExecution({ definition: def, name: 'op-1', input: { a: 1 }, stateMachineName: 'Other' }),
    );
    assert.throws(() => sim.startExecution({ definition: def, name: 'bad name' }), /Invalid Name/);
  });
});
