import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedStepFunctions } from '../support/asl/index.ts';
import { runDefinition } from './run.ts';

/** Runs one Choice rule over the input: 'yes' when it matches, 'no' by Default. */
async function choose(rule: object, input: unknown): Promise<string> {
  const def = {
    StartAt: 'C',
    States: {
      C: { Type: 'Choice', Choices: [{ ...rule, Next: 'Yes' }], Default: 'No' },
      Yes: { Type: 'Pass', Result: 'yes', End: true },
      No: { Type: 'Pass', Result: 'no', End: true },
    },
  };
  const { result } = await runDefinition(def, input);
  if (result.status !== 'SUCCEEDED') return `${result.error}`;
  return result.output as string;
}

const input = {
  s: 'beta',
  n: 5,
  b: true,
  t: '2026-01-02T00:00:00Z',
  nul: null,
  other: { s: 'alpha', n: 7, t: '2026-01-01T00:00:00Z' },
};

// https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html
describe('ASL Choice', () => {
  const cases: [object, string][] = [
    [{ Variable: '$.s', StringEquals: 'beta' }, 'yes'],
    [{ Variable: '$.s', StringLessThan: 'gamma' }, 'yes'],
    [{ Variable: '$.s', StringGreaterThan: 'gamma' }, 'no'],
    [{ Variable: '$.s', StringLessThanEquals: 'beta' }, 'yes'],
    [{ Variable: '$.s', StringGreaterThanEquals: 'beta' }, 'yes'],
    [{ Variable: '$.s', StringEqualsPath: '$.other.s' }, 'no'],
    [{ Variable: '$.s', StringGreaterThanPath: '$.other.s' }, 'yes'],
    [{ Variable: '$.s', StringMatches: 'b*a' }, 'yes'],
    [{ Variable: '$.s', StringMatches: 'b\\*a' }, 'no'],
    [{ Variable: '$.n', NumericEquals: 5 }, 'yes'],
    [{ Variable: '$.n', NumericLessThan: 5 }, 'no'],
    [{ Variable: '$.n', NumericGreaterThan: 4.5 }, 'yes'],
    [{ Variable: '$.n', NumericLessThanEquals: 5 }, 'yes'],
    [{ Variable: '$.n', NumericGreaterThanEquals: 6 }, 'no'],
    [{ Variable: '$.n', NumericLessThanPath: '$.other.n' }, 'yes'],
    [{ Variable: '$.n', NumericEqualsPath: '$.other.n' }, 'no'],
    [{ Variable: '$.s', NumericEquals: 5 }, 'no'],
    [{ Variable: '$.b', BooleanEquals: true }, 'yes'],
    [{ Variable: '$.b', BooleanEqualsPath: '$.nul' }, 'no'],
    [{ Variable: '$.t', TimestampEquals: '2026-01-02T00:00:00Z' }, 'yes'],
    [{ Variable: '$.t', TimestampGreaterThanPath: '$.other.t' }, 'yes'],
    [{ Variable: '$.t', TimestampLessThan: '2026-01-01T12:00:00Z' }, 'no'],
    [{ Variable: '$.t', TimestampLessThanEquals: '2026-01-02T00:00:00Z' }, 'yes'],
    [{ Variable: '$.t', TimestampGreaterThanEquals: '2026-01-03T00:00:00Z' }, 'no'],
    [{ Variable: '$.missing', IsPresent: false }, 'yes'],
    [{ Variable: '$.nul', IsNull: true }, 'yes'],
    [{ Variable: '$.n', IsNumeric: true }, 'yes'],
    [{ Variable: '$.s', IsString: false }, 'no'],
    [{ Variable: '$.b', IsBoolean: true }, 'yes'],
    [{ Variable: '$.t', IsTimestamp: true }, 'yes'],
    [{ Variable: '$.s', IsTimestamp: true }, 'no'],
    [
      {
        And: [
          { Variable: '$.n', NumericEquals: 5 },
          { Variable: '$.b', BooleanEquals: true },
        ],
      },
      'yes',
    ],
    [
      {
        Or: [
          { Variable: '$.n', NumericEquals: 6 },
          { Variable: '$.s', StringEquals: 'beta' },
        ],
      },
      'yes',
    ],
    [{ Not: { Variable: '$.s', StringEquals: 'beta' } }, 'no'],
    [{ Variable: '$.missing', StringEquals: 'x' }, 'States.Runtime'],
  ];
  for (const [rule, expected] of cases) {
    it(`${JSON.stringify(rule)} → ${expected}`, async () => {
      assert.equal(await choose(rule, input), expected);
    });
  }

  it('fails with States.NoChoiceMatched without a Default', async () => {
    const def = {
      StartAt: 'C',
      States: {
        C: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEquals: 1, Next: 'E' }] },
        E: { Type: 'Succeed' },
      },
    };
    const { result } = await runDefinition(def, { n: 2 });
    assert.equal(result.error, 'States.NoChoiceMatched');
  });
});

describe('ASL Wait on the virtual clock', () => {
  const wait = (fields: object) => ({ StartAt: 'W', States: { W: { Type: 'Wait', End: true, ...fields } } });

  it('waits Seconds, SecondsPath, Timestamp and TimestampPath without real sleeping', async () => {
    const started = Date.now();
    for (const [fields, input, ms] of [
      [{ Seconds: 3600 }, {}, 3_600_000],
      [{ SecondsPath: '$.s' }, { s: 90 }, 90_000],
      [{ Timestamp: '2026-01-01T00:10:00Z' }, {}, 600_000],
      [{ TimestampPath: '$.at' }, { at: '2026-01-01T00:00:30Z' }, 30_000],
      [{ TimestampPath: '$.at' }, { at: '2020-01-01T00:00:00Z' }, 0],
    ] as [object, object, number][]) {
      const { result } = await runDefinition(wait(fields), input);
      assert.equal(result.status, 'SUCCEEDED');
      assert.equal(result.stopDate - result.startDate, ms, JSON.stringify(fields));
    }
    assert.ok(Date.now() - started < 30_000);
  });

  it('orders concurrent waits by their virtual deadline, and time stands still while a handler runs', async () => {
    const order: string[] = [];
    const sim = new SimulatedStepFunctions({
      invoke: async (_t, payload) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push(
          `${(payload as { id: string }).id}@${sim.clock.now() - Date.parse('2026-01-01T00:00:00Z')}`,
        );
        return {};
      },
    });
    const def = {
      StartAt: 'W',
      States: {
        W: { Type: 'Wait', SecondsPath: '$.s', Next: 'T' },
        T: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'f', 'Payload.$': '$' },
          End: true,
        },
      },
    };
    const runs = [
      sim.startExecution({ definition: def, input: { id: 'c', s: 30 } }),
      sim.startExecution({ definition: def, input: { id: 'a', s: 10 } }),
      sim.startExecution({ definition: def, input: { id: 'b', s: 20 } }),
    ];
    await Promise.all(runs.map((r) => r.result()));
    assert.deepEqual(order, ['a@10000', 'b@20000', 'c@30000']);
  });
});
