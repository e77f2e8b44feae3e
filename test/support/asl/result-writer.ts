/**
 * A Distributed Map's ResultWriter: child executions' records grouped by status into
 * `<Prefix>/<map run id>/SUCCEEDED_0.json`, `FAILED_0.json`, `PENDING_0.json` and a
 * `manifest.json` listing them; the Map's result becomes `{ MapRunArn, ResultWriterDetails:
 * { Bucket, Key } }` with Key the manifest's. WriterConfig's Transformation (NONE, COMPACT,
 * FLATTEN) and OutputType (JSON, JSONL) shape the records; a failed child's record is always
 * the full one. https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
 * Simulation choices: ABORTED and TIMED_OUT children are written to FAILED_0.json with their
 * Status; items never started when the Map Run failed are written to PENDING_0.json.
 */
import { NotImplementedError, runtimeError, StatesError } from './errors.ts';
import { evaluateTemplate, type Scope } from './payload-template.ts';
import type { Json, Run } from './types.ts';

export interface ChildRecord {
  input: Json;
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT' | 'PENDING' | 'RUNNING';
  name?: string;
  executionArn?: string;
  stateMachineArn?: string;
  output?: Json;
  error?: string;
  cause?: string;
  startDate?: number;
  stopDate?: number;
}

/** The record Step Functions writes for a child execution (Transformation NONE). */
export function fullRecord(child: ChildRecord): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const base: Record<string, unknown> = {
    ExecutionArn: child.executionArn,
    Input: JSON.stringify(child.input),
    InputDetails: { Included: true },
    Name: child.name,
    RedriveCount: 0,
    RedriveStatus: child.status === 'SUCCEEDED' ? 'NOT_REDRIVABLE' : 'REDRIVABLE_BY_MAP_RUN',
    StartDate: iso(child.startDate),
    StateMachineArn: child.stateMachineArn,
    Status: child.status,
    StopDate: iso(child.stopDate),
  };
  if (child.status === 'SUCCEEDED') {
    base.Output = JSON.stringify(child.output);
    base.OutputDetails = { Included: true };
  } else if (child.status !== 'PENDING') {
    base.Error = child.error;
    base.Cause = child.cause;
  }
  return base;
}

interface WriterConfig {
  transformation: 'NONE' | 'COMPACT' | 'FLATTEN';
  outputType: 'JSON' | 'JSONL';
}

function writerConfig(writer: Record<string, unknown>, exporting: boolean): WriterConfig {
  const config = (writer.WriterConfig ?? {}) as Record<string, unknown>;
  for (const field of Object.keys(config)) {
    if (field !== 'Transformation' && field !== 'OutputType')
      throw new NotImplementedError(`WriterConfig field ${field}`);
  }
  const transformation = (config.Transformation ??
    (exporting ? 'NONE' : 'COMPACT')) as WriterConfig['transformation'];
  const outputType = (config.OutputType ?? 'JSON') as WriterConfig['outputType'];
  if (!['NONE', 'COMPACT', 'FLATTEN'].includes(transformation))
    throw new NotImplementedError(`Transformation ${transformation}`);
  if (!['JSON', 'JSONL'].includes(outputType)) throw new NotImplementedError(`OutputType ${outputType}`);
  return { transformation, outputType };
}

function transform(children: ChildRecord[], transformation: WriterConfig['transformation']): Json[] {
  const out: Json[] = [];
  for (const child of children) {
    if (transformation === 'NONE' || child.status !== 'SUCCEEDED') out.push(fullRecord(child));
    else if (transformation === 'FLATTEN' && Array.isArray(child.output)) out.push(...child.output);
    else out.push(child.output);
  }
  return out;
}

/** Writes (or, with WriterConfig alone, shapes) the Map Run's results; answers the Map's result. */
export async function writeResults(
  writer: Record<string, unknown>,
  children: ChildRecord[],
  mapRunArn: string,
  scope: Scope,
  run: Run,
): Promise<Json> {
  for (const field of Object.keys(writer)) {
    if (!['Resource', 'Parameters', 'WriterConfig'].includes(field))
      throw new NotImplementedError(`ResultWriter field ${field}`);
  }
  const exporting = writer.Resource !== undefined;
  const config = writerConfig(writer, exporting);
  if (!exporting) return transform(children, config.transformation);
  if (!/^arn:[^:]+:states:::s3:putObject$/.test(String(writer.Resource))) {
    throw new NotImplementedError(`ResultWriter Resource ${String(writer.Resource)}`);
  }
  const params = evaluateTemplate(writer.Parameters ?? {}, scope) as Record<string, unknown>;
  if (typeof params.Bucket !== 'string') throw runtimeError('ResultWriter Parameters need a Bucket');
  const s3 = run.runtime.s3;
  if (!s3) throw new NotImplementedError('ResultWriter without an s3 option on the simulation');
  const prefix =
    typeof params.Prefix === 'string' && params.Prefix !== '' ? `${params.Prefix.replace(/\/$/, '')}/` : '';
  const folder = `${prefix}${mapRunArn.split(':').pop()}/`;
  const files: Record<string, { Key: string; Size: number }[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  const groups: [string, ChildRecord[]][] = [
    ['SUCCEEDED', children.filter((c) => c.status === 'SUCCEEDED')],
    [
      'FAILED',
      children.filter((c) => c.status === 'FAILED' || c.status === 'ABORTED' || c.status === 'TIMED_OUT'),
    ],
    ['PENDING', children.filter((c) => c.status === 'PENDING')],
  ];
  const put = async (key: string, body: string) => {
    try {
      await run.runtime.clock.track(() => s3.putObject(params.Bucket as string, key, body));
    } catch (error) {
      throw new StatesError(
        'States.ResultWriterFailed',
        `Unable to write s3://${params.Bucket}/${key}: ${(error as Error).message}`,
      );
    }
  };
  for (const [status, group] of groups) {
    if (group.length === 0) continue;
    const records = transform(group, config.transformation);
    const body =
      config.outputType === 'JSONL'
        ? records.map((r) => JSON.stringify(r)).join('\n')
        : JSON.stringify(records);
    const key = `${folder}${status}_0.json`;
    await put(key, body);
    files[status]!.push({ Key: key, Size: Buffer.byteLength(body) });
  }
  const manifestKey = `${folder}manifest.json`;
  await put(
    manifestKey,
    JSON.stringify({ DestinationBucket: params.Bucket, MapRunArn: mapRunArn, ResultFiles: files }),
  );
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: params.Bucket, Key: manifestKey } };
}
