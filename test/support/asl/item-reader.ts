/**
 * A Distributed Map's items: ItemReader over `arn:aws:states:::s3:getObject` (JSON array, JSON
 * Lines, CSV with a header row or given headers; MaxItems(Path)), and ItemBatcher's batches.
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
 * https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html
 */
import { NotImplementedError, runtimeError, StatesError } from './errors.ts';
import { readPath } from './json-path.ts';
import { evaluateTemplate, type Scope } from './payload-template.ts';
import type { Json, Run } from './types.ts';

const READER_CONFIG = [
  'InputType',
  'MaxItems',
  'MaxItemsPath',
  'CSVHeaderLocation',
  'CSVHeaders',
  'CSVDelimiter',
];

/** Reads the items an ItemReader names. */
export async function readItems(reader: Record<string, unknown>, scope: Scope, run: Run): Promise<Json[]> {
  for (const field of Object.keys(reader)) {
    if (!['Resource', 'Parameters', 'ReaderConfig'].includes(field))
      throw new NotImplementedError(`ItemReader field ${field}`);
  }
  if (!/^arn:[^:]+:states:::s3:getObject$/.test(String(reader.Resource))) {
    throw new NotImplementedError(`ItemReader Resource ${String(reader.Resource)}`);
  }
  const config = (reader.ReaderConfig ?? {}) as Record<string, unknown>;
  for (const field of Object.keys(config)) {
    if (!READER_CONFIG.includes(field))
      throw new NotImplementedError(`ItemReader ReaderConfig field ${field}`);
  }
  const params = evaluateTemplate(reader.Parameters ?? {}, scope) as Record<string, unknown>;
  if (typeof params.Bucket !== 'string' || typeof params.Key !== 'string') {
    throw runtimeError('ItemReader Parameters need Bucket and Key');
  }
  const s3 = run.runtime.s3;
  if (!s3) throw new NotImplementedError('ItemReader without an s3 option on the simulation');
  let body: string;
  try {
    body = await run.runtime.clock.track(() => s3.getObject(params.Bucket as string, params.Key as string));
  } catch (error) {
    throw new StatesError(
      'States.ItemReaderFailed',
      `Unable to read s3://${params.Bucket}/${params.Key}: ${(error as Error).message}`,
    );
  }
  const items = parseItems(body, config);
  const maxItems =
    config.MaxItemsPath !== undefined
      ? readPath(scope.input, config.MaxItemsPath as string)
      : config.MaxItems;
  if (maxItems === undefined || maxItems === 0) return items;
  if (!Number.isInteger(maxItems) || (maxItems as number) < 0)
    throw runtimeError(`Invalid MaxItems ${JSON.stringify(maxItems)}`);
  return items.slice(0, maxItems as number);
}

function parseItems(body: string, config: Record<string, unknown>): Json[] {
  const type = config.InputType ?? 'JSON';
  try {
    if (type === 'JSON') {
      const value = JSON.parse(body);
      if (!Array.isArray(value)) throw new Error('the object is not a JSON array');
      return value;
    }
    if (type === 'JSONL')
      return body
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line));
  } catch (error) {
    throw new StatesError(
      'States.ItemReaderFailed',
      `Unable to parse the ${type} object: ${(error as Error).message}`,
    );
  }
  if (type === 'CSV') return parseCsv(body, config);
  throw new NotImplementedError(`ItemReader InputType ${String(type)}`);
}

/** CSV rows as objects of strings, keyed by the header row or by CSVHeaders. */
function parseCsv(body: string, config: Record<string, unknown>): Json[] {
  const delimiter = config.CSVDelimiter === undefined || config.CSVDelimiter === 'COMMA' ? ',' : null;
  if (delimiter === null) throw new NotImplementedError(`CSVDelimiter ${String(config.CSVDelimiter)}`);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  const given = config.CSVHeaderLocation === 'GIVEN';
  const headers = given ? (config.CSVHeaders as string[]) : rows.shift();
  if (!headers) return [];
  return rows
    .filter((r) => !(r.length === 1 && r[0] === ''))
    .map((r) => Object.fromEntries(headers.map((h, i) => [h, r[i] ?? ''])));
}

/**
 * Groups items into child inputs `{ BatchInput?, Items }` by MaxItemsPerBatch(Path) and
 * MaxInputBytesPerBatch(Path) (the JSON size of the Items array).
 */
export function batchItems(
  batcher: Record<string, unknown>,
  items: Json[],
  scope: Scope,
): { input: Json; count: number }[] {
  for (const field of Object.keys(batcher)) {
    if (
      ![
        'MaxItemsPerBatch',
        'MaxItemsPerBatchPath',
        'MaxInputBytesPerBatch',
        'MaxInputBytesPerBatchPath',
        'BatchInput',
      ].includes(field)
    ) {
      throw new NotImplementedError(`ItemBatcher field ${field}`);
    }
  }
  const pick = (value: unknown, path: unknown) =>
    path !== undefined ? readPath(scope.input, path as string) : value;
  const maxItems =
    (pick(batcher.MaxItemsPerBatch, batcher.MaxItemsPerBatchPath) as number | undefined) ?? Infinity;
  const maxBytes =
    (pick(batcher.MaxInputBytesPerBatch, batcher.MaxInputBytesPerBatchPath) as number | undefined) ??
    256 * 1024;
  const batchInput =
    batcher.BatchInput === undefined ? undefined : evaluateTemplate(batcher.BatchInput, scope);
  const batches: { input: Json; count: number }[] = [];
  let current: Json[] = [];
  let bytes = 2;
  const flush = () => {
    if (current.length === 0) return;
    batches.push({
      input: batchInput === undefined ? { Items: current } : { BatchInput: batchInput, Items: current },
      count: current.length,
    });
    current = [];
    bytes = 2;
  };
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item));
    if (current.length > 0 && (current.length >= maxItems || bytes + 1 + size > maxBytes)) flush();
    bytes += size + (current.length > 0 ? 1 : 0);
    current.push(item);
  }
  flush();
  return batches;
}
