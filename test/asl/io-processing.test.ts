import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echo, lambdaTask, runDefinition } from './run.ts';

const pass = (fields: object) => ({ StartAt: 'S', States: { S: { Type: 'Pass', End: true, ...fields } } });

describe('ASL input and output processing', () => {
  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-example.html
  it('runs the developer guide example: InputPath, Parameters, ResultSelector, ResultPath, OutputPath', async () => {
    const definition = {
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          InputPath: '$.library',
          Parameters: { FunctionName: 'f', Payload: { 'staticValue.$': '$.name', 'ctx.$': '$$.State.Name' } },
          ResultSelector: { 'modifiedPayload.$': '$.Payload', 'status.$': '$.StatusCode' },
          ResultPath: '$.TaskResult',
          OutputPath: '$.TaskResult.modifiedPayload',
          End: true,
        },
      },
    };
    const seen: unknown[] = [];
    const { result } = await runDefinition(
      definition,
      { library: { name: 'shelf' }, other: 1 },
      {
        invoke: async (target, payload) => {
          seen.push([target, payload]);
          return { got: payload };
        },
      },
    );
    assert.deepEqual(seen, [['f', { staticValue: 'shelf', ctx: 'T' }]]);
    assert.equal(result.status, 'SUCCEEDED');
    assert.deepEqual(result.output, { got: { staticValue: 'shelf', ctx: 'T' } });
  });

  // https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
  it('places a result with ResultPath, keeps the input with ResultPath null', async () => {
    const input = {
      comment: 'This is a test of the input and output of a Task state.',
      details: 'Default example',
      who: 'AWS Step Functions',
    };
    const at = await runDefinition(
      pass({ Result: 'Hello, AWS Step Functions!', ResultPath: '$.taskresult' }),
      input,
    );
    assert.deepEqual(at.result.output, { ...input, taskresult: 'Hello, AWS Step Functions!' });
    const discard = await runDefinition(pass({ Result: 'x', ResultPath: null }), input);
    assert.deepEqual(discard.result.output, input);
    const nested = await runDefinition(pass({ Result: 1, ResultPath: '$.a.b' }), { a: { c: 2 } });
    assert.deepEqual(nested.result.output, { a: { c: 2, b: 1 } });
    const broken = await runDefinition(pass({ Result: 1, ResultPath: '$.a.b' }), { a: 'text' });
    assert.equal(broken.result.error, 'States.ResultPathMatchFailure');
  });

  it('treats InputPath and OutputPath null as {}', async () => {
    const { result } = await runDefinition(pass({ InputPath: null }), { a: 1 });
    assert.deepEqual(result.output, {});
    const out = await runDefinition(pass({ OutputPath: null }), { a: 1 });
    assert.deepEqual(out.result.output, {});
  });

  it('exposes the context object: Execution, StateMachine, State, and Map.Item in ItemSelector', async () => {
    const definition = {
      StartAt: 'S',
      States: {
        S: {
          Type: 'Pass',
          Parameters: {
            'id.$': '$$.Execution.Id',
            'name.$': '$$.Execution.Name',
            'input.$': '$$.Execution.Input',
            'start.$': '$$.Execution.StartTime',
            'machine.$': '$$.StateMachine.Id',
            'state.$': '$$.State.Name',
            'entered.$': '$$.State.EnteredTime',
          },
          Next: 'M',
        },
        M: {
          Type: 'Map',
          ItemsPath: '$.input.items',
          ItemSelector: { 'i.$': '$$.Map.Item.Index', 'v.$': '$$.Map.Item.Value', 'n.$': '$.name' },
          ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
          ResultPath: '$.mapped',
          End: true,
        },
      },
    };
    const { result, execution } = await runDefinition(definition, { items: ['a', 'b'] });
    const out = result.output as Record<string, unknown>;
    assert.equal(out.id, execution.executionArn);
    assert.equal(out.name, execution.name);
    assert.deepEqual(out.input, { items: ['a', 'b'] });
    assert.equal(out.start, '2026-01-01T00:00:00.000Z');
    assert.equal(out.machine, 'arn:aws:states:sim:000000000000:stateMachine:StateMachine');
    assert.equal(out.state, 'S');
    assert.equal(out.entered, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(out.mapped, [
      { i: 0, v: 'a', n: execution.name },
      { i: 1, v: 'b', n: execution.name },
    ]);
  });

  it('selects several nodes with a wildcard path in Parameters', async () => {
    const { result } = await runDefinition(pass({ Parameters: { 'ids.$': '$.items[*].id' } }), {
      items: [{ id: 1 }, { id: 2 }],
    });
    assert.deepEqual(result.output, { ids: [1, 2] });
  });

  it('fails the execution with States.Runtime on a path that is not in the input, even under Catch', async () => {
    const definition = {
      StartAt: 'T',
      States: {
        T: {
          ...lambdaTask('f'),
          InputPath: '$.missing',
          Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
          End: true,
        },
        Caught: { Type: 'Succeed' },
      },
    };
    delete (definition.States.T as Record<string, unknown>).Next;
    const { result } = await runDefinition(definition, { a: 1 }, { invoke: echo });
    assert.equal(result.status, 'FAILED');
    assert.equal(result.error, 'States.Runtime');
    assert.match(result.cause ?? '', /\$\.missing/);
  });

  it('fails with States.DataLimitExceeded when a state output passes 256 KiB, and States.ALL does not catch it', async () => {
    const definition = {
      StartAt: 'T',
      States: {
        T: { ...lambdaTask('big'), Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }], End: true },
        Caught: { Type: 'Succeed' },
      },
    };
    const invoke = async (_t: string, payload: unknown) => ({
      blob: 'x'.repeat((payload as { n: number }).n),
    });
    const fits = await runDefinition(definition, { n: 200 * 1024 }, { invoke });
    assert.equal(fits.result.status, 'SUCCEEDED');
    const over = await runDefinition(definition, { n: 256 * 1024 }, { invoke });
    assert.equal(over.result.status, 'FAILED');
    assert.equal(over.result.error, 'States.DataLimitExceeded');
  });

  it('refuses an execution input over 256 KiB', () => {
    return assert.rejects(
      async () => runDefinition(pass({}), { blob: 'x'.repeat(256 * 1024) }),
      /DataLimitExceeded/,
    );
  });
});

// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html (the examples)
describe('ASL intrinsic functions', () => {
  const cases: [string, unknown, unknown][] = [
    ["States.Format('Hello, my name is {}.', $.name)", { name: 'Arnav' }, 'Hello, my name is Arnav.'],
    ["States.Format('{} \\{\\} {}', 1, 'two')", {}, '1 {} two'],
    ['States.StringToJson($.escaped)', { escaped: '{"foo": "bar"}' }, { foo: 'bar' }],
    ['States.JsonToString($.unescaped)', { unescaped: { foo: 'bar' } }, '{"foo":"bar"}'],
    [
      "States.Array('Foo', 2020, $.someJson, null)",
      { someJson: { random: 'abcdefg' } },
      ['Foo', 2020, { random: 'abcdefg' }, null],
    ],
    [
      'States.ArrayPartition($.inputArray, 4)',
      { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
      [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
    ],
    [
      'States.ArrayContains($.inputArray, $.lookingFor)',
      { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9], lookingFor: 5 },
      true,
    ],
    ['States.ArrayRange(1, 9, 2)', {}, [1, 3, 5, 7, 9]],
    ['States.ArrayGetItem($.inputArray, $.index)', { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9], index: 5 }, 6],
    ['States.ArrayLength($.inputArray)', { inputArray: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, 9],
    ['States.ArrayUnique($.inputArray)', { inputArray: [1, 2, 3, 3, 3, 3, 3, 3, 4] }, [1, 2, 3, 4]],
    ['States.Base64Encode($.input)', { input: 'Data to encode' }, 'RGF0YSB0byBlbmNvZGU='],
    ['States.Base64Decode($.base64)', { base64: 'RGVjb2RlZCBkYXRh' }, 'Decoded data'],
    ["States.Hash($.Data, 'SHA-1')", { Data: 'input data' }, 'aaff4a450a104cd177d28d18d74485e8cae074b7'],
    [
      'States.JsonMerge($.json1, $.json2, false)',
      { json1: { a: { a1: 1, a2: 2 }, b: 2 }, json2: { a: { a3: 1, a4: 2 }, c: 3 } },
      { a: { a3: 1, a4: 2 }, b: 2, c: 3 },
    ],
    ['States.MathAdd($.value1, $.step)', { value1: 111, step: -1 }, 110],
    [
      'States.StringSplit($.inputString, $.splitter)',
      { inputString: '1,2,3,4,5', splitter: ',' },
      ['1', '2', '3', '4', '5'],
    ],
    ["States.StringSplit('This.is+a,test=string', '.+,=')", {}, ['This', 'is', 'a', 'test', 'string']],
    ['States.ArrayLength(States.Array(1, 2, 3))', {}, 3],
  ];
  for (const [expression, input, expected] of cases) {
    it(expression, async () => {
      const { result } = await runDefinition(pass({ Parameters: { 'out.$': expression } }), input);
      assert.equal(result.status, 'SUCCEEDED', result.cause);
      assert.deepEqual((result.output as { out: unknown }).out, expected);
    });
  }

  it('States.MathRandom stays in range and is reproducible by seed; States.UUID is a v4 UUID', async () => {
    const def = pass({ Parameters: { 'r.$': 'States.MathRandom(1, 999)', 'u.$': 'States.UUID()' } });
    const a = (await runDefinition(def, {}, { seed: 7 })).result.output as { r: number; u: string };
    const b = (await runDefinition(def, {}, { seed: 7 })).result.output as { r: number; u: string };
    assert.equal(a.r, b.r);
    assert.ok(a.r >= 1 && a.r < 999);
    assert.match(a.u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('fails with States.Runtime on a bad argument', async () => {
    const { result } = await runDefinition(pass({ Parameters: { 'x.$': 'States.ArrayGetItem($.a, 5)' } }), {
      a: [1],
    });
    assert.equal(result.error, 'States.Runtime');
  });
});
