/**
 * A loopback Amazon EC2 for tests, speaking EC2's own wire protocol to the real `EC2Client`
 * (pointed at it with `endpoint`): the AWS query protocol — a form-encoded `POST /` with
 * `Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag:Fleet&Filter.1.Value.1=…`,
 * signed with SigV4 — answered in XML in the `http://ec2.amazonaws.com/doc/2016-11-15/`
 * namespace (`reservationSet/item/instancesSet/item`, `tagSet`, `nextToken`), errors as
 * `<Response><Errors><Error><Code>`. Filters are honoured as EC2 documents them: values of one
 * filter are alternatives (with `*` and `?` wildcards), filters all apply; an unknown filter name
 * is `InvalidParameterValue`. Pages are forced small (`pageSize`) so that clients must follow
 * `nextToken`; a fault makes every call `UnauthorizedOperation`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { EC2Client } from '@aws-sdk/client-ec2';
import { isSigned, listenOnLoopback, loopbackClientConfig, readBody } from './loopback.ts';

export interface Ec2TestInstance {
  instanceId: string;
  state?: 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
  privateIp?: string;
  publicIp?: string;
  privateDns?: string;
  tags?: Record<string, string>;
  /** Instances with the same reservation id are answered in one reservation. */
  reservationId?: string;
}

const STATE_CODES = { pending: 0, running: 16, stopping: 64, stopped: 80, terminated: 48 } as const;
const KNOWN_FILTERS = /^(?:instance-state-name|instance-id|tag-key|tag:.+)$/;

class Ec2Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The loopback EC2; see the file's TSDoc. */
export class Ec2TestServer {
  instances: Ec2TestInstance[] = [];
  /** Reservations per page, whatever MaxResults asks (EC2 may answer fewer than asked). */
  pageSize = 2;
  /** Answer every call with this error (e.g. `UnauthorizedOperation`). */
  fault: { status: number; code: string; message: string } | undefined;
  /** Every request's decoded form fields, in order. */
  readonly requests: Array<Record<string, string>> = [];
  readonly region = 'eu-west-1';
  endpoint = '';
  close: () => Promise<void> = async () => {};

  async listen(): Promise<this> {
    const { endpoint, close } = await listenOnLoopback(
      createServer((req, res) => void this.handle(req, res)),
    );
    this.endpoint = endpoint;
    this.close = close;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    try {
      if (req.method !== 'POST' || req.url !== '/') throw new Ec2Error(400, 'InvalidAction', 'POST / only');
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
        throw new Ec2Error(400, 'InvalidParameterValue', 'expected a form-encoded body');
      if (!isSigned(req))
        throw new Ec2Error(
          401,
          'AuthFailure',
          'AWS was not able to validate the provided access credentials',
        );
      const form = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
      this.requests.push(form);
      if (this.fault) throw new Ec2Error(this.fault.status, this.fault.code, this.fault.message);
      if (form['Version'] !== '2016-11-15') throw new Ec2Error(400, 'InvalidParameterValue', 'bad Version');
      if (form['Action'] !== 'DescribeInstances')
        throw new Ec2Error(
          400,
          'InvalidAction',
          `The action ${form['Action']} is not valid for this web service.`,
        );
      this.reply(res, 200, this.describeInstances(form));
    } catch (error) {
      const e = error instanceof Ec2Error ? error : new Ec2Error(500, 'InternalError', String(error));
      this.reply(
        res,
        e.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${e.code}</Code><Message>${xml(e.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
      );
    }
  }

  private describeInstances(form: Record<string, string>): string {
    const filters = new Map<string, string[]>();
    for (let n = 1; form[`Filter.${n}.Name`] !== undefined; n += 1) {
      const name = form[`Filter.${n}.Name`]!;
      if (!KNOWN_FILTERS.test(name))
        throw new Ec2Error(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
      const values: string[] = [];
      for (let v = 1; form[`Filter.${n}.Value.${v}`] !== undefined; v += 1)
        values.push(form[`Filter.${n}.Value.${v}`]!);
      filters.set(name, [...(filters.get(name) ?? []), ...values]);
    }
    const max = form['MaxResults'] === undefined ? undefined : Number(form['MaxResults']);
    if (max !== undefined && !(max >= 5 && max <= 1000))
      throw new Ec2Error(
        400,
        'InvalidParameterValue',
        'Value for parameter maxResults is invalid: must be between 5 and 1000',
      );
    const matching = this.instances.filter((instance) =>
      [...filters].every(([name, values]) => values.some((value) => matches(value, fieldOf(instance, name)))),
    );
    const reservations = new Map<string, Ec2TestInstance[]>();
    for (const instance of matching) {
      const id = instance.reservationId ?? `r-${instance.instanceId.slice(2)}`;
      reservations.set(id, [...(reservations.get(id) ?? []), instance]);
    }
    const all = [...reservations];
    const start = form['NextToken'] === undefined ? 0 : decodeToken(form['NextToken']);
    const page = all.slice(start, start + Math.min(this.pageSize, max ?? this.pageSize));
    const next = start + page.length < all.length ? encodeToken(start + page.length) : undefined;
    const items = page
      .map(
        ([id, instances]) =>
          `<item><reservationId>${id}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${instances.map(instanceXml).join('')}</instancesSet></item>`,
      )
      .join('');
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
      `<requestId>${randomUUID()}</requestId><reservationSet>${items}</reservationSet>` +
      `${next === undefined ? '' : `<nextToken>${next}</nextToken>`}</DescribeInstancesResponse>`
    );
  }

  private reply(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, {
      'Content-Type': 'text/xml;charset=UTF-8',
      'Content-Length': Buffer.byteLength(body),
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(body);
  }
}

function instanceXml(instance: Ec2TestInstance): string {
  const state = instance.state ?? 'running';
  const tags = Object.entries(instance.tags ?? {})
    .map(([key, value]) => `<item><key>${xml(key)}</key><value>${xml(value)}</value></item>`)
    .join('');
  const optional = (tag: string, value: string | undefined) =>
    value === undefined ? '' : `<${tag}>${xml(value)}</${tag}>`;
  return (
    `<item><instanceId>${instance.instanceId}</instanceId><imageId>ami-0123456789abcdef0</imageId>` +
    `<instanceState><code>${STATE_CODES[state]}</code><name>${state}</name></instanceState>` +
    `<privateDnsName>${xml(instance.privateDns ?? '')}</privateDnsName>` +
    optional('privateIpAddress', instance.privateIp) +
    optional('ipAddress', instance.publicIp) +
    `<instanceType>t3.micro</instanceType><tagSet>${tags}</tagSet></item>`
  );
}

function fieldOf(instance: Ec2TestInstance, filter: string): string[] {
  if (filter === 'instance-state-name') return [instance.state ?? 'running'];
  if (filter === 'instance-id') return [instance.instanceId];
  if (filter === 'tag-key') return Object.keys(instance.tags ?? {});
  const key = filter.slice('tag:'.length);
  const value = instance.tags?.[key];
  return value === undefined ? [] : [value];
}

/** EC2 filter values take `*` (any run) and `?` (one character). */
function matches(pattern: string, values: string[]): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return values.some((value) => re.test(value));
}

function encodeToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64');
}

function decodeToken(token: string): number {
  try {
    const offset = (JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { offset: unknown }).offset;
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {}
  throw new Ec2Error(400, 'InvalidParameterValue', 'Invalid value for nextToken');
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Starts a loopback EC2 on a free port. */
export async function startEc2Server(): Promise<Ec2TestServer> {
  return new Ec2TestServer().listen();
}

/** The real SDK client pointed at `server`, with static test credentials. */
export function createTestEc2Client(server: Ec2TestServer): EC2Client {
  return new EC2Client(loopbackClientConfig(server.endpoint, server.region));
}
