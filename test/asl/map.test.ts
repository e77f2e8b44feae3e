import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimulatedStepFunctions, s3FromClient } from '../support/asl/index.ts';
import { createTestS3Client, startS3Server } from '../support/s3-server.ts';
import { memoryS3, runDefinition } from './run.ts';

const distributed = (fields: object, processorStates?: object) => ({
  StartAt: 'M',
  States: {
    M: {
      Type: 'Map',
      ItemProcessor: {
        ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
        StartAt: 'Work',
        States: processorStates ?? {
          Work: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: 'work', 'Payload.$': '$' },
            OutputPath: '$.Payload',
            End: true,
          },
        },
      },
      End: true,
      ...fields,
    },
  },
});

/** A handler that takes `ms` of virtual time per item, fails items listed in `failing`, and records starts. */
function worker(failing: Set<number>, ms: (id: number) => number = () => 1000) {
  const started: number[] = [];
  const finished: number[] = [];
  const invoke = async (_t: string, payload: unknown, ctx: { sleep(ms: number): Promise<void> }) => {
    const id = (payload as { id: number }).id;
    started.push(id);
    await ctx.sleep(ms(id));
    finished.push(id);
    if (failing.has(id)) throw new Error(`item ${id} failed`);
    return { id, done: true };
  };
  return { started, finished, invoke };
}

/** A definition of one state, `name`, where it starts. */
function onlyState<N extends string, S>(name: N, state: S): { StartAt: N; States: Record<N, S> } {
  return { StartAt: name, States: { [name]: state } as Record<N, S> };
}

const items = (n: number) => Array.from({ length: n }, (_, id) => ({ id }));

describe('ASL Parallel and inline Map', () => {
  it('runs Parallel branches on the same input and answers their outputs in order', async () => {
    const def = onlyState('P', {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'A', States: { A: { Type: 'Pass', Parameters: { 'a.$': '$.x' }, End: true } } },
        { StartAt: 'B', States: { B: { Type: 'Wait', Seconds: 5, End: true } } },
      ],
      ResultPath: '$.branches',
      End: true,
    });
    const { result } = await runDefinition(def, { x: 1 });
    assert.deepEqual(result.output, { x: 1, branches: [{ a: 1 }, { x: 1 }] });
  });

  it('fails a Parallel with the first failing branch and stops the others; Execution.stop aborts', async () => {
    const calls: string[] = [];
    const def = onlyState('P', {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'Boom', States: { Boom: { Type: 'Fail', Error: 'Branch.Failed', Cause: 'first' } } },
        {
          StartAt: 'W',
          States: {
            W: { Type: 'Wait', Seconds: 10, Next: 'T' },
            T: { Type: 'Task', Resource: 'arn:aws:lambda:sim:000000000000:function:F', End: true },
          },
        },
      ],
      End: true,
    });
    const invoke = async (target: string) => {
      calls.push(target);
      return {};
    };
    const { result, sim } = await runDefinition(def, {}, { invoke });
    assert.deepEqual([result.status, result.error, result.cause], ['FAILED', 'Branch.Failed', 'first']);
    await sim.clock.sleep(60_000);
    assert.deepEqual(calls, []);
    const waiting = sim.startExecution({ definition: def.States.P.Branches[1]!, input: {} });
    waiting.stop('Operator.Stop', 'by hand');
    assert.deepEqual(await waiting.result().then((r) => [r.status, r.error]), ['ABORTED', 'Operator.Stop']);
    await sim.clock.sleep(60_000);
    assert.deepEqual(calls, []);
  });

  it("takes a Map's legacy Parameters as its per-item selector, after InputPath", async () => {
    const def = onlyState('M', {
      Type: 'Map',
      InputPath: '$.job',
      ItemsPath: '$.items',
      Parameters: { 'item.$': '$$.Map.Item.Value', 'owner.$': '$.owner' },
      Iterator: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } },
      End: true,
    });
    const { result } = await runDefinition(def, { job: { owner: 'ops', items: [1, 2] } });
    assert.deepEqual(result.output, [
      { item: 1, owner: 'ops' },
      { item: 2, owner: 'ops' },
    ]);
  });

  it('fails an inline Map with its iteration error, which Catch handles, and respects MaxConcurrency (at most 40)', async () => {
    let running = 0;
    let peak = 0;
    const sim = new SimulatedStepFunctions({
      invoke: async (_t, payload, ctx) => {
        running++;
        peak = Math.max(peak, running);
        await ctx.sleep(100);
        running--;
        if ((payload as { id: number }).id === 7) throw new Error('seven');
        return payload;
      },
    });
    const def = {
      StartAt: 'M',
      States: {
        M: {
          Type: 'Map',
          ItemsPath: '$.items',
          MaxConcurrency: 3,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'INLINE' },
            StartAt: 'T',
            States: {
              T: { Type: 'Task', Resource: 'arn:aws:lambda:sim:000000000000:function:F', End: true },
            },
          },
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failed', Next: 'Done' }],
          End: true,
        },
        Done: { Type: 'Pass', End: true },
      },
    };
    const ok = await sim.startExecution({ definition: def, input: { items: items(5) } }).result();
    assert.deepEqual(ok.output, items(5));
    assert.equal(peak, 3);
    peak = 0;
    const unbounded = structuredClone(def);
    unbounded.States.M.MaxConcurrency = 0;
    await sim.startExecution({ definition: unbounded, input: { items: items(100) } }).result();
    assert.equal(peak, 40);
    const bad = await sim.startExecution({ definition: def, input: { items: items(10) } }).result();
    assert.equal((bad.output as { failed: { Error: string } }).failed.Error, 'Error');
  });
});

describe('ASL Distributed Map', () => {
  it('runs children as executions of their own, MaxConcurrency at a time, results in item order', async () => {
    const w = worker(new Set());
    const sim = new SimulatedStepFunctions({ invoke: w.invoke });
    const def = distributed(
      { ItemsPath: '$.items', MaxConcurrency: 4 },
      {
        Work: {
          Type: 'Pass',
          Parameters: { 'exec.$': '$$.Execution.Name', 'input.$': '$$.Execution.Input' },
          Next: 'Call',
        },
        Call: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'work', 'Payload.$': '$.input' },
          ResultSelector: { 'r.$': '$.Payload', 'e.$': '$$.Execution.Id' },
          End: true,
        },
      },
    );
    const execution = sim.startExecution({ definition: def, input: { items: items(10) } });
    const result = await execution.result();
    assert.equal(result.status, 'SUCCEEDED');
    const out = result.output as { r: unknown; e: string }[];
    assert.deepEqual(
      out.map((o) => o.r),
      items(10).map(({ id }) => ({ id, done: true })),
    );
    assert.equal(new Set(out.map((o) => o.e)).size, 10);
    assert.ok(out.every((o) => o.e !== execution.executionArn && o.e.includes(':execution:StateMachine/M:')));
    // 10 items of 1 s, 4 at a time: three waves.
    assert.equal(result.stopDate - result.startDate, 3000);
  });

  it('fails the Map Run past ToleratedFailureCount: no child starts after, running ones are ABORTED', async () => {
    // Item 2 takes 5 s, the others 1 s.
    const w = worker(new Set([3, 4, 5]), (id) => (id === 2 ? 5000 : 1000));
    const s3 = memoryS3();
    const sim = new SimulatedStepFunctions({ invoke: w.invoke, s3 });
    const def = distributed({
      ItemsPath: '$.items',
      MaxConcurrency: 2,
      ToleratedFailureCount: 1,
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: 'results', Prefix: 'runs' },
      },
      Catch: [
        { ErrorEquals: ['States.ExceedToleratedFailureThreshold'], ResultPath: '$.mapError', Next: 'Failed' },
      ],
    });
    (def.States as Record<string, object>).Failed = { Type: 'Pass', End: true };
    const result = await sim.startExecution({ definition: def, input: { items: items(10) } }).result();
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(
      (result.output as { mapError: { Error: string } }).mapError.Error,
      'States.ExceedToleratedFailureThreshold',
    );
    // t=0: 0,1 start; t=1: 3 (after 1 finishes), t=2: 4 ... item 2 runs 5 s.
    // Failures: 3 at t=2 (1 failure, tolerated), 4 at t=3 (2 > 1): the run fails; 2 is still running.
    assert.deepEqual(
      w.started.sort((a, b) => a - b),
      [0, 1, 2, 3, 4],
    );
    // The Map failed at t=3 s, while item 2 (5 s) was still running: it was not waited for.
    assert.equal(result.stopDate - result.startDate, 3000);
    assert.ok(!w.started.includes(5));
    const mapRun = sim.events.find((e) => e.type === 'MapRunFailed');
    assert.ok(mapRun);
    const manifestKey = [...s3.objects.keys()].find((k) => k.endsWith('manifest.json'))!;
    const manifest = JSON.parse(s3.objects.get(manifestKey)!);
    const failed = JSON.parse(s3.objects.get(`results/${manifest.ResultFiles.FAILED[0].Key}`)!);
    assert.deepEqual(
      failed.map((r: { Status: string; Input: string }) => [JSON.parse(r.Input).id, r.Status]).sort(),
      [
        [2, 'ABORTED'],
        [3, 'FAILED'],
        [4, 'FAILED'],
      ],
    );
    const pending = JSON.parse(s3.objects.get(`results/${manifest.ResultFiles.PENDING[0].Key}`)!);
    assert.deepEqual(
      pending.map((r: { Input: string }) => JSON.parse(r.Input).id),
      [5, 6, 7, 8, 9],
    );
  });

  it('tolerates failures up to ToleratedFailurePercentage (of items) and then writes the documented result files', async () => {
    const w = worker(new Set([1, 6]), () => 10);
    const s3 = memoryS3();
    const sim = new SimulatedStepFunctions({ invoke: w.invoke, s3 });
    const def = distributed({
      ItemsPath: '$.items',
      ToleratedFailurePercentage: 20,
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: 'results', 'Prefix.$': '$.prefix' },
      },
      ResultPath: '$.written',
    });
    const result = await sim
      .startExecution({ definition: def, input: { items: items(10), prefix: 'out' } })
      .result();
    assert.equal(result.status, 'SUCCEEDED');
    const written = (
      result.output as {
        written: { MapRunArn: string; ResultWriterDetails: { Bucket: string; Key: string } };
      }
    ).written;
    const runId = written.MapRunArn.split(':').pop();
    assert.match(written.MapRunArn, /^arn:aws:states:sim:000000000000:mapRun:StateMachine\/M:/);
    assert.deepEqual(written.ResultWriterDetails, { Bucket: 'results', Key: `out/${runId}/manifest.json` });
    const manifest = JSON.parse(s3.objects.get(`results/out/${runId}/manifest.json`)!);
    assert.equal(manifest.DestinationBucket, 'results');
    assert.equal(manifest.MapRunArn, written.MapRunArn);
    assert.deepEqual(Object.keys(manifest.ResultFiles).sort(), ['FAILED', 'PENDING', 'SUCCEEDED']);
    assert.equal(manifest.ResultFiles.SUCCEEDED[0].Key, `out/${runId}/SUCCEEDED_0.json`);
    const body = s3.objects.get(`results/out/${runId}/SUCCEEDED_0.json`)!;
    assert.equal(manifest.ResultFiles.SUCCEEDED[0].Size, Buffer.byteLength(body));
    const succeeded = JSON.parse(body);
    assert.equal(succeeded.length, 8);
    const record = succeeded.find((r: { Input: string }) => JSON.parse(r.Input).id === 0);
    assert.equal(record.Status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(record.Output), { id: 0, done: true });
    assert.deepEqual(record.InputDetails, { Included: true });
    for (const field of ['ExecutionArn', 'Name', 'StartDate', 'StopDate', 'StateMachineArn'])
      assert.equal(typeof record[field], 'string', field);
    const failed = JSON.parse(s3.objects.get(`results/out/${runId}/FAILED_0.json`)!);
    assert.deepEqual(
      failed.map((r: { Error: string }) => r.Error),
      ['Error', 'Error'],
    );
    assert.equal(JSON.parse(failed[0].Cause).errorMessage, 'item 1 failed');
    assert.deepEqual(manifest.ResultFiles.PENDING, []);
  });

  it('times EXPRESS children out after five minutes, as Express workflows do', async () => {
    const def = distributed(
      { ItemsPath: '$.items', ToleratedFailurePercentage: 100 },
      {
        Work: { Type: 'Wait', SecondsPath: '$.s', End: true },
      },
    );
    (def.States.M.ItemProcessor.ProcessorConfig as { ExecutionType: string }).ExecutionType = 'EXPRESS';
    const { result, sim } = await runDefinition(def, { items: [{ s: 299 }, { s: 301 }] });
    assert.equal(result.status, 'SUCCEEDED');
    const finished = sim.events.filter((e) => e.type === 'MapItemFinished').map((e) => [e.index, e.status]);
    assert.deepEqual(finished, [
      [0, 'SUCCEEDED'],
      [1, 'TIMED_OUT'],
    ]);
  });

  it('reads items with ItemReader (JSON, JSONL, CSV; MaxItems) and batches them with ItemBatcher', async () => {
    const s3 = memoryS3();
    await s3.putObject('in', 'items.json', JSON.stringify(items(7)));
    await s3.putObject(
      'in',
      'items.jsonl',
      items(3)
        .map((i) => JSON.stringify(i))
        .join('\n'),
    );
    await s3.putObject('in', 'items.csv', 'id,name\n1,"a, b"\n2,c\n');
    const pass = { Work: { Type: 'Pass', End: true } };
    const read = async (reader: object, extra: object = {}) => {
      const { result } = await runDefinition(
        distributed({ ItemReader: reader, ...extra }, pass),
        { key: 'items.json', max: 4 },
        { s3 },
      );
      assert.equal(result.status, 'SUCCEEDED', result.cause);
      return result.output;
    };
    const s3Reader = (Key: object, ReaderConfig: object) => ({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig,
      Parameters: { Bucket: 'in', ...Key },
    });
    assert.deepEqual(
      await read(s3Reader({ 'Key.$': '$.key' }, { InputType: 'JSON', MaxItemsPath: '$.max' })),
      items(4),
    );
    assert.deepEqual(await read(s3Reader({ Key: 'items.jsonl' }, { InputType: 'JSONL' })), items(3));
    assert.deepEqual(
      await read(s3Reader({ Key: 'items.csv' }, { InputType: 'CSV', CSVHeaderLocation: 'FIRST_ROW' })),
      [
        { id: '1', name: 'a, b' },
        { id: '2', name: 'c' },
      ],
    );
    const batched = await read(s3Reader({ Key: 'items.json' }, { InputType: 'JSON' }), {
      ItemSelector: { 'n.$': '$$.Map.Item.Value.id' },
      ItemBatcher: { MaxItemsPerBatch: 3, BatchInput: { 'key.$': '$.key' } },
    });
    assert.deepEqual(batched, [
      { BatchInput: { key: 'items.json' }, Items: [{ n: 0 }, { n: 1 }, { n: 2 }] },
      { BatchInput: { key: 'items.json' }, Items: [{ n: 3 }, { n: 4 }, { n: 5 }] },
      { BatchInput: { key: 'items.json' }, Items: [{ n: 6 }] },
    ]);
    const missing = await runDefinition(
      distributed({ ItemReader: s3Reader({ Key: 'nope' }, { InputType: 'JSON' }) }, pass),
      {},
      { s3 },
    );
    assert.equal(missing.result.error, 'States.ItemReaderFailed');
  });

  it('shapes results by WriterConfig: COMPACT and FLATTEN without writing, JSONL files when exporting', async () => {
    const def = (writer: object) =>
      distributed(
        { ItemsPath: '$.items', ResultWriter: writer },
        {
          Work: {
            Type: 'Pass',
            Parameters: { 'pair.$': 'States.Array($.id, $.id)' },
            OutputPath: '$.pair',
            End: true,
          },
        },
      );
    const compact = await runDefinition(
      def({ WriterConfig: { Transformation: 'COMPACT', OutputType: 'JSON' } }),
      { items: items(2) },
    );
    assert.deepEqual(compact.result.output, [
      [0, 0],
      [1, 1],
    ]);
    const flat = await runDefinition(
      def({ WriterConfig: { Transformation: 'FLATTEN', OutputType: 'JSON' } }),
      { items: items(2) },
    );
    assert.deepEqual(flat.result.output, [0, 0, 1, 1]);
    const s3 = memoryS3();
    const exported = await runDefinition(
      def({
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: 'b', Prefix: 'p' },
        WriterConfig: { Transformation: 'COMPACT', OutputType: 'JSONL' },
      }),
      { items: items(2) },
      { s3 },
    );
    const key = (exported.result.output as { ResultWriterDetails: { Key: string } }).ResultWriterDetails.Key;
    const body = s3.objects.get(`b/${key.replace('manifest.json', 'SUCCEEDED_0.json')}`)!;
    assert.deepEqual(
      body.split('\n').map((line) => JSON.parse(line)),
      [
        [0, 0],
        [1, 1],
      ],
    );
  });

  it('reads items and writes results over the real S3 wire protocol (loopback S3 server, S3Client)', async () => {
    const server = await startS3Server(['plans', 'results']);
    try {
      server.put('plans', 'op-7/targets.json', JSON.stringify(items(25)));
      const sim = new SimulatedStepFunctions({
        s3: s3FromClient(createTestS3Client(server)),
        invoke: async (_t, payload, ctx) => {
          await ctx.sleep(100);
          return { id: (payload as { id: number }).id };
        },
      });
      const def = distributed({
        ItemReader: {
          Resource: 'arn:aws:states:::s3:getObject',
          ReaderConfig: { InputType: 'JSON' },
          Parameters: { Bucket: 'plans', 'Key.$': "States.Format('{}/targets.json', $.operationId)" },
        },
        MaxConcurrency: 10,
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Bucket: 'results', 'Prefix.$': '$.operationId' },
        },
      });
      const result = await sim.startExecution({ definition: def, input: { operationId: 'op-7' } }).result();
      assert.equal(result.status, 'SUCCEEDED', result.cause);
      assert.equal(result.stopDate - result.startDate, 300);
      const { Key } = (result.output as { ResultWriterDetails: { Key: string } }).ResultWriterDetails;
      const manifest = JSON.parse(server.text('results', Key)!);
      const records = JSON.parse(server.text('results', manifest.ResultFiles.SUCCEEDED[0].Key)!);
      assert.equal(records.length, 25);
      assert.ok(server.requests.some((r) => r.method === 'GET' && r.key === 'op-7/targets.json'));
    } finally {
      await server.close();
    }
  });

  it('fails with States.DataLimitExceeded when the results come back inline over 256 KiB', async () => {
    const def = distributed(
      { ItemsPath: '$.items' },
      {
        Work: {
          Type: 'Pass',
          Parameters: { 'pad.$': "States.Format('{}', $.id)", blob: 'x'.repeat(1000) },
          End: true,
        },
      },
    );
    const { result } = await runDefinition(def, { items: items(300) });
    assert.equal(result.error, 'States.DataLimitExceeded');
  });

  it('runs 10,000 items with MaxConcurrency 1,000 over async handlers in seconds', async () => {
    const s3 = memoryS3();
    await s3.putObject('in', 'targets.json', JSON.stringify(items(10_000)));
    let peak = 0;
    let running = 0;
    let calls = 0;
    const sim = new SimulatedStepFunctions({
      s3,
      invoke: async (_t, payload, ctx) => {
        calls++;
        running++;
        peak = Math.max(peak, running);
        await ctx.sleep(250);
        running--;
        return { id: (payload as { id: number }).id, ok: true };
      },
    });
    const def = distributed({
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { Bucket: 'in', Key: 'targets.json' },
      },
      MaxConcurrency: 1000,
      ToleratedFailurePercentage: 100,
      ResultWriter: {
        Resource: 'arn:aws:states:::s3:putObject',
        Parameters: { Bucket: 'out', Prefix: 'fleet' },
      },
    });
    const cpu = process.cpuUsage();
    const result = await sim.startExecution({ definition: def, input: {} }).result();
    const used = process.cpuUsage(cpu);
    assert.equal(result.status, 'SUCCEEDED');
    assert.equal(calls, 10_000);
    assert.equal(peak, 1000);
    assert.equal(result.stopDate - result.startDate, 10 * 250);
    const key = (result.output as { ResultWriterDetails: { Key: string } }).ResultWriterDetails.Key;
    const manifest = JSON.parse(s3.objects.get(`out/${key}`)!);
    assert.equal(JSON.parse(s3.objects.get(`out/${manifest.ResultFiles.SUCCEEDED[0].Key}`)!).length, 10_000);
    console.log(`10,000-item distributed map: ${((used.user + used.system) / 1000).toFixed(0)} ms CPU`);
  });
});
