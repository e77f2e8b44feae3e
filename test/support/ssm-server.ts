/**
 * A loopback AWS Systems Manager for tests: a `node:http` server on 127.0.0.1 that speaks SSM's
 * JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Action>`, `application/x-amz-json-1.1`,
 * errors as HTTP 400 with `__type`) for SendCommand, ListCommandInvocations,
 * GetCommandInvocation, ListCommands, CancelCommand and DescribeInstanceInformation, so that the real `SSMClient` can be
 * pointed at it with `endpoint`. Each instance id has a sandbox (a working dir and env); a sent
 * AWS-RunShellScript runs there as the agent runs it (commands written to `_script.sh`, run
 * with `sh -c`), with real statuses (Pending → InProgress → Success/Failed), ResponseCode, and
 * stdout/stderr cut to 24,000 / 8,000 characters as SSM does. Faults: throttle every Nth call,
 * Delayed, Undeliverable, delivery and execution timeouts, other final statuses, unknown
 * instances, invocations that are not visible yet right after SendCommand.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { describeInstanceInformation, type ManagedInstanceRecord } from './ssm-inventory.ts';

export interface SsmInstanceOptions {
  /** Working directory of every script; the agent's per-command orchestration dir by default. */
  cwd?: string;
  /** Environment over the agent-like base (PATH, HOME, TMPDIR, AWS_SSM_INSTANCE_ID, …). */
  env?: Record<string, string>;
}

export interface InstanceFault {
  /** Report `Delayed` for this long before delivering. */
  delayedMs?: number;
  /** Never deliver: `Failed` / `Undeliverable`. */
  undeliverable?: boolean;
  /** Never deliver: `TimedOut` / `DeliveryTimedOut`. */
  deliveryTimeout?: boolean;
  /** Kill the script after this long: `TimedOut` / `ExecutionTimedOut` (as its `executionTimeout` would). */
  executionTimeoutAfterMs?: number;
  /** End without running, with this status (e.g. `Failed` / `AccessDenied`, `InvalidPlatform`, `Terminated`). */
  final?: { status: string; details: string };
}

export interface SsmServerOptions {
  region?: string;
  /** Answer every Nth call (all actions counted together) with `ThrottlingException`. */
  throttleEvery?: number;
  /** The `__type` of those answers: `ThrottlingException` (default) or SSM's `TooManyUpdates`. */
  throttleError?: 'ThrottlingException' | 'TooManyUpdates';
  /** For this long after SendCommand, its invocations are not visible yet (`InvocationDoesNotExist`). */
  registrationLagMs?: number;
  /** Time from Pending to delivery, in ms (default 5). */
  deliveryMs?: number;
}

export interface SsmInstance {
  readonly id: string;
  /** Everything of this instance lives here; its `tmp` is the scripts' TMPDIR. */
  readonly root: string;
  readonly tmpDir: string;
  options: SsmInstanceOptions;
  fault: InstanceFault | undefined;
}

export interface SsmInvocation {
  commandId: string;
  instanceId: string;
  requestedAt: Date;
  status: string;
  details: string;
  responseCode: number;
  stdout: string;
  stderr: string;
  startedAt?: Date;
  endedAt?: Date;
  child?: ChildProcess | undefined;
  timers: NodeJS.Timeout[];
  cancelled?: boolean;
  timedOut?: boolean;
  /** Every status it went through, in order (`Status/StatusDetails`). */
  history: string[];
}

interface CommandRecord {
  id: string;
  input: SendCommandBody;
  requestedAt: Date;
  visibleAt: number;
  invocations: Map<string, SsmInvocation>;
}

interface SendCommandBody {
  DocumentName?: string;
  InstanceIds?: string[];
  Parameters?: Record<string, string[]>;
  TimeoutSeconds?: number;
  Comment?: string;
  MaxConcurrency?: string;
  MaxErrors?: string;
}

type Body = Record<string, unknown>;

class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const PLUGIN_OUTPUT_LIMIT = 2_500;
const INSTANCE_ID = /^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;
const FINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

/** The loopback SSM; see the file's TSDoc. */
export class SsmTestServer {
  /** Calls served per action (throttled ones not included). */
  readonly calls: Record<string, number> = {};
  /** Calls answered with ThrottlingException, per action. */
  readonly throttled: Record<string, number> = {};
  /** Every accepted SendCommand request body, in order. */
  readonly sendCommands: SendCommandBody[] = [];
  throttleEvery: number | undefined;
  /**
   * Answer as something that is not SSM would (a proxy, a login portal, a wrong URL): an HTML
   * page with this status, for the named actions (all when none are named).
   */
  htmlAnswer: { status: number; actions?: string[] } | undefined;
  /** Calls answered with `htmlAnswer`, per action. */
  readonly htmlAnswered: Record<string, number> = {};
  throttleError: 'ThrottlingException' | 'TooManyUpdates';
  registrationLagMs: number;
  deliveryMs: number;
  readonly region: string;
  /** What DescribeInstanceInformation lists (ssm-inventory.ts), and its forced page size. */
  managed: ManagedInstanceRecord[] = [];
  pageSize = 2;
  /** The access key id each signed request was made with, in order. */
  readonly accessKeys: string[] = [];
  /** Answer DescribeInstanceInformation with this error (e.g. `AccessDeniedException`). */
  describeFault: { type: string; message: string } | undefined;
  private readonly instances = new Map<string, SsmInstance>();
  private readonly commands = new Map<string, CommandRecord>();
  private readonly server: Server;
  private received = 0;
  private port = 0;

  constructor(options: SsmServerOptions = {}) {
    this.region = options.region ?? 'eu-west-1';
    this.throttleEvery = options.throttleEvery;
    this.throttleError = options.throttleError ?? 'ThrottlingException';
    this.registrationLagMs = options.registrationLagMs ?? 0;
    this.deliveryMs = options.deliveryMs ?? 5;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Registers a managed node with its own sandbox. */
  addInstance(id: string, options: SsmInstanceOptions = {}): SsmInstance {
    const root = mkdtempSync(join(tmpdir(), 'ssm-instance-'));
    const tmpDir = join(root, 'tmp');
    mkdirSync(tmpDir);
    const instance: SsmInstance = { id, root, tmpDir, options, fault: undefined };
    this.instances.set(id, instance);
    return instance;
  }

  instance(id: string): SsmInstance {
    const found = this.instances.get(id);
    if (!found) throw new Error(`no instance ${id}`);
    return found;
  }

  /** What SSM currently reports for one invocation (for assertions). */
  invocation(commandId: string, instanceId: string): SsmInvocation | undefined {
    return this.commands.get(commandId)?.invocations.get(instanceId);
  }

  /** All invocations on one instance, oldest first. */
  invocationsOf(instanceId: string): SsmInvocation[] {
    return [...this.commands.values()].flatMap((c) => {
      const inv = c.invocations.get(instanceId);
      return inv ? [inv] : [];
    });
  }

  async close(): Promise<void> {
    for (const command of this.commands.values()) {
      for (const inv of command.invocations.values()) {
        for (const timer of inv.timers) clearTimeout(timer);
        killGroup(inv.child, 'SIGKILL');
      }
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const instance of this.instances.values()) rmSync(instance.root, { recursive: true, force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    try {
      if (req.method !== 'POST' || req.url !== '/')
        throw new SsmError('UnknownOperationException', 'POST / only');
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
        throw new SsmError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      }
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 Credential=')) {
        throw new SsmError('MissingAuthenticationTokenException', 'Missing Authentication Token');
      }
      this.accessKeys.push(/Credential=([^/]+)/.exec(String(req.headers.authorization))?.[1] ?? '');
      this.received += 1;
      const html = this.htmlAnswer;
      if (html && (html.actions === undefined || html.actions.includes(action))) {
        this.htmlAnswered[action] = (this.htmlAnswered[action] ?? 0) + 1;
        const page = '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Proxy</body></html>\n';
        res.writeHead(html.status, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(page);
        return;
      }
      if (this.throttleEvery && this.received % this.throttleEvery === 0) {
        this.throttled[action] = (this.throttled[action] ?? 0) + 1;
        throw new SsmError(this.throttleError, 'Rate exceeded');
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Body;
      const answer = this.dispatch(action, body);
      this.calls[action] = (this.calls[action] ?? 0) + 1;
      this.reply(res, 200, answer);
    } catch (error) {
      if (error instanceof SsmError) {
        // Modeled SSM errors carry `Message`; common ones (throttling, auth) `message`.
        const key = /Exception$/.test(error.type) ? 'message' : 'Message';
        this.reply(res, 400, { __type: error.type, [key]: error.message });
      } else {
        this.reply(res, 500, { __type: 'InternalServerError', Message: String(error) });
      }
    }
  }

  private reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/x-amz-json-1.1',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(text);
  }

  private dispatch(action: string, body: Body): unknown {
    switch (action) {
      case 'SendCommand':
        return this.sendCommand(body as SendCommandBody);
      case 'ListCommandInvocations':
        return this.listCommandInvocations(body);
      case 'GetCommandInvocation':
        return this.getCommandInvocation(body);
      case 'ListCommands':
        return this.listCommands(body);
      case 'CancelCommand':
        return this.cancelCommand(body);
      case 'DescribeInstanceInformation':
        if (this.describeFault) throw new SsmError(this.describeFault.type, this.describeFault.message);
        return describeInstanceInformation(this, body, (type, message) => new SsmError(type, message));
      default:
        throw new SsmError('UnknownOperationException', `unknown operation ${action}`);
    }
  }

  private sendCommand(body: SendCommandBody): unknown {
    if (body.DocumentName !== 'AWS-RunShellScript')
      throw new SsmError('InvalidDocument', 'Document not found');
    const ids = body.InstanceIds ?? [];
    if (ids.length === 0 || ids.length > 50) {
      throw new SsmError('ValidationException', 'instanceIds must have length between 1 and 50');
    }
    if (new Set(ids).size !== ids.length) throw new SsmError('DuplicateInstanceId', 'Duplicate instance id');
    if (ids.some((id) => !INSTANCE_ID.test(id) || !this.instances.has(id))) {
      throw new SsmError('InvalidInstanceId', 'Instances not in a valid state for account');
    }
    const commands = body.Parameters?.['commands'];
    if (!commands || commands.length === 0) throw new SsmError('InvalidParameters', 'commands is required');
    const execution = body.Parameters?.['executionTimeout']?.[0];
    if (execution !== undefined && !/^[1-9][0-9]{0,5}$/.test(execution)) {
      throw new SsmError('InvalidParameters', 'executionTimeout must be 1..172800');
    }
    const timeout = body.TimeoutSeconds;
    if (timeout !== undefined && (timeout < 30 || timeout > 2_592_000)) {
      throw new SsmError('ValidationException', 'timeoutSeconds must be between 30 and 2592000');
    }
    this.sendCommands.push(body);
    const record: CommandRecord = {
      id: randomUUID(),
      input: body,
      requestedAt: new Date(),
      visibleAt: Date.now() + this.registrationLagMs,
      invocations: new Map(),
    };
    this.commands.set(record.id, record);
    for (const id of ids) record.invocations.set(id, this.startInvocation(record, this.instance(id)));
    return { Command: this.commandShape(record) };
  }

  private startInvocation(record: CommandRecord, instance: SsmInstance): SsmInvocation {
    const inv: SsmInvocation = {
      commandId: record.id,
      instanceId: instance.id,
      requestedAt: record.requestedAt,
      status: 'Pending',
      details: 'Pending',
      responseCode: -1,
      stdout: '',
      stderr: '',
      timers: [],
      history: ['Pending/Pending'],
    };
    const fault = instance.fault ?? {};
    const later = (ms: number, fn: () => void) => inv.timers.push(setTimeout(fn, ms));
    const end = (status: string, details: string) => {
      setStatus(inv, status, details);
      inv.endedAt = new Date();
    };
    const deliver = () => {
      if (inv.cancelled) return;
      if (fault.final) return end(fault.final.status, fault.final.details);
      if (fault.undeliverable) return end('Failed', 'Undeliverable');
      if (fault.deliveryTimeout) return end('TimedOut', 'DeliveryTimedOut');
      this.execute(record, instance, inv, fault);
    };
    if (fault.delayedMs) {
      later(this.deliveryMs, () => {
        if (inv.cancelled) return;
        setStatus(inv, 'Delayed', 'Delayed');
        later(fault.delayedMs ?? 0, deliver);
      });
    } else {
      later(this.deliveryMs, deliver);
    }
    return inv;
  }

  private execute(
    record: CommandRecord,
    instance: SsmInstance,
    inv: SsmInvocation,
    fault: InstanceFault,
  ): void {
    // As the agent does: the commands go into a script in the command's orchestration dir, run by sh.
    const dir = join(instance.root, 'orchestration', record.id, 'awsrunShellScript', '0.awsrunShellScript');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, '_script.sh');
    writeFileSync(script, (record.input.Parameters?.['commands'] ?? []).join('\n'), { mode: 0o700 });
    const env = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: instance.root,
      TMPDIR: instance.tmpDir,
      AWS_SSM_INSTANCE_ID: instance.id,
      AWS_SSM_REGION_NAME: this.region,
      ...instance.options.env,
    };
    const child = spawn('sh', ['-c', script], { cwd: instance.options.cwd ?? dir, env, detached: true });
    inv.child = child;
    setStatus(inv, 'InProgress', 'InProgress');
    inv.startedAt = new Date();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const seconds = Number(record.input.Parameters?.['executionTimeout']?.[0] ?? 3600);
    const limitMs = Math.min(seconds * 1000, fault.executionTimeoutAfterMs ?? Number.POSITIVE_INFINITY);
    const timer = setTimeout(() => {
      inv.timedOut = true;
      killGroup(child, 'SIGKILL');
    }, limitMs);
    inv.timers.push(timer);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      inv.child = undefined;
      inv.stdout = Buffer.concat(out).toString('utf8');
      inv.stderr = Buffer.concat(err).toString('utf8');
      inv.responseCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      inv.endedAt = new Date();
      if (inv.cancelled) setStatus(inv, 'Cancelled', 'Cancelled');
      else if (inv.timedOut) setStatus(inv, 'TimedOut', 'ExecutionTimedOut');
      else if (code === 0) setStatus(inv, 'Success', 'Success');
      else setStatus(inv, 'Failed', 'Failed');
    });
  }

  private visible(commandId: unknown): CommandRecord | undefined {
    const record = this.commands.get(String(commandId));
    return record && Date.now() >= record.visibleAt ? record : undefined;
  }

  private listCommandInvocations(body: Body): unknown {
    const max = Number(body['MaxResults'] ?? 50);
    if (!(max >= 1 && max <= 50))
      throw new SsmError('ValidationException', 'maxResults must be between 1 and 50');
    if (body['CommandId'] !== undefined && !this.commands.has(String(body['CommandId']))) {
      throw new SsmError('InvalidCommandId', 'Invalid command id');
    }
    const records =
      body['CommandId'] === undefined ? [...this.commands.values()] : [this.visible(body['CommandId'])];
    const all = records
      .flatMap((r) => (r && Date.now() >= r.visibleAt ? [...r.invocations.values()] : []))
      .filter((inv) => body['InstanceId'] === undefined || inv.instanceId === body['InstanceId']);
    const start = body['NextToken'] ? Number(Buffer.from(String(body['NextToken']), 'base64').toString()) : 0;
    const page = all.slice(start, start + max);
    const next = start + max < all.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
    return {
      CommandInvocations: page.map((inv) => this.invocationShape(inv, body['Details'] === true)),
      ...(next ? { NextToken: next } : {}),
    };
  }

  private invocationShape(inv: SsmInvocation, details: boolean): unknown {
    const record = this.commands.get(inv.commandId);
    const final = FINAL.has(inv.status);
    const plugin = {
      Name: 'aws:runShellScript',
      Status: inv.status,
      StatusDetails: inv.details,
      ResponseCode: inv.responseCode,
      ...(inv.startedAt ? { ResponseStartDateTime: inv.startedAt.getTime() / 1000 } : {}),
      ...(inv.endedAt ? { ResponseFinishDateTime: inv.endedAt.getTime() / 1000 } : {}),
      Output: final ? pluginOutput(inv) : '',
      StandardOutputUrl: '',
      StandardErrorUrl: '',
      OutputS3Region: this.region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
    };
    return {
      CommandId: inv.commandId,
      InstanceId: inv.instanceId,
      InstanceName: '',
      Comment: record?.input.Comment ?? '',
      DocumentName: 'AWS-RunShellScript',
      DocumentVersion: '$DEFAULT',
      RequestedDateTime: inv.requestedAt.getTime() / 1000,
      Status: inv.status,
      StatusDetails: inv.details,
      StandardOutputUrl: '',
      StandardErrorUrl: '',
      CommandPlugins: details ? [plugin] : [],
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  private getCommandInvocation(body: Body): unknown {
    const inv = this.visible(body['CommandId'])?.invocations.get(String(body['InstanceId']));
    if (!inv) throw new SsmError('InvocationDoesNotExist', 'Invocation does not exist');
    if (body['PluginName'] !== undefined && body['PluginName'] !== 'aws:runShellScript') {
      throw new SsmError('InvalidPluginName', 'Invalid plugin name');
    }
    const final = FINAL.has(inv.status);
    const elapsed = inv.startedAt
      ? ((inv.endedAt ?? new Date()).getTime() - inv.startedAt.getTime()) / 1000
      : 0;
    return {
      CommandId: inv.commandId,
      InstanceId: inv.instanceId,
      Comment: this.commands.get(inv.commandId)?.input.Comment ?? '',
      DocumentName: 'AWS-RunShellScript',
      DocumentVersion: '$DEFAULT',
      PluginName: 'aws:runShellScript',
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: inv.startedAt?.toISOString() ?? '',
      ExecutionElapsedTime: `PT${elapsed}S`,
      ExecutionEndDateTime: inv.endedAt?.toISOString() ?? '',
      Status: inv.status,
      StatusDetails: inv.details,
      StandardOutputContent: final ? inv.stdout.slice(0, STDOUT_LIMIT) : '',
      StandardOutputUrl: '',
      StandardErrorContent: final ? inv.stderr.slice(0, STDERR_LIMIT) : '',
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  private commandShape(record: CommandRecord): unknown {
    const invocations = [...record.invocations.values()];
    const count = (pred: (inv: SsmInvocation) => boolean) => invocations.filter(pred).length;
    const done = count((inv) => FINAL.has(inv.status));
    const ok = count((inv) => inv.status === 'Success');
    const status =
      done < invocations.length
        ? done === 0
          ? 'Pending'
          : 'InProgress'
        : ok === done
          ? 'Success'
          : 'Failed';
    return {
      CommandId: record.id,
      DocumentName: record.input.DocumentName,
      DocumentVersion: '$DEFAULT',
      Comment: record.input.Comment ?? '',
      ExpiresAfter: record.requestedAt.getTime() / 1000 + (record.input.TimeoutSeconds ?? 3600),
      Parameters: record.input.Parameters ?? {},
      InstanceIds: record.input.InstanceIds ?? [],
      Targets: [],
      RequestedDateTime: record.requestedAt.getTime() / 1000,
      Status: status,
      StatusDetails: status === 'Failed' ? 'Incomplete' : status,
      OutputS3Region: this.region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      MaxConcurrency: record.input.MaxConcurrency ?? '50',
      MaxErrors: record.input.MaxErrors ?? '0',
      TargetCount: invocations.length,
      CompletedCount: done,
      ErrorCount: done - ok,
      DeliveryTimedOutCount: count((inv) => inv.details === 'DeliveryTimedOut'),
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      TimeoutSeconds: record.input.TimeoutSeconds ?? 3600,
    };
  }

  private listCommands(body: Body): unknown {
    const records =
      body['CommandId'] === undefined
        ? [...this.commands.values()]
        : [this.commands.get(String(body['CommandId']))];
    if (records.some((r) => r === undefined)) throw new SsmError('InvalidCommandId', 'Invalid command id');
    const wanted = body['InstanceId'] === undefined ? undefined : String(body['InstanceId']);
    return {
      Commands: records
        .filter((r): r is CommandRecord => r !== undefined && (!wanted || r.invocations.has(wanted)))
        .map((r) => this.commandShape(r)),
    };
  }

  private cancelCommand(body: Body): unknown {
    const record = this.commands.get(String(body['CommandId']));
    if (!record) throw new SsmError('InvalidCommandId', 'Invalid command id');
    const ids = (body['InstanceIds'] as string[] | undefined) ?? [...record.invocations.keys()];
    if (ids.some((id) => !record.invocations.has(id)))
      throw new SsmError('InvalidInstanceId', 'Invalid instance id');
    for (const id of ids) {
      const inv = record.invocations.get(id);
      if (!inv || FINAL.has(inv.status)) continue;
      inv.cancelled = true;
      if (inv.child) {
        setStatus(inv, 'Cancelling', 'Cancelling');
        killGroup(inv.child, 'SIGTERM');
      } else {
        for (const timer of inv.timers) clearTimeout(timer);
        setStatus(inv, 'Cancelled', 'Cancelled');
        inv.endedAt = new Date();
      }
    }
    return {};
  }
}

/** Starts a loopback SSM on a free port. */
export async function startSsmServer(options: SsmServerOptions = {}): Promise<SsmTestServer> {
  return new SsmTestServer(options).listen();
}

/**
 * The real SDK client pointed at `server`: static test credentials, the server's region, and
 * the adaptive retry mode that production clients are meant to use.
 */
export function createTestSsmClient(server: SsmTestServer, config: SSMClientConfig = {}): SSMClient {
  return new SSMClient({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: 'AKIDLOOPBACKTEST', secretAccessKey: 'loopback-test-secret' },
    retryMode: 'adaptive',
    ...config,
  });
}

/** A syntactically valid, distinct instance id for test host number `n`. */
export function testInstanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

function pluginOutput(inv: SsmInvocation): string {
  const text = inv.stderr ? `${inv.stdout}\n----------ERROR-------\n${inv.stderr}` : inv.stdout;
  return text.length > PLUGIN_OUTPUT_LIMIT
    ? `${text.slice(0, PLUGIN_OUTPUT_LIMIT)}\n---Output truncated---`
    : text;
}

function setStatus(inv: SsmInvocation, status: string, details: string): void {
  inv.status = status;
  inv.details = details;
  inv.history.push(`${status}/${details}`);
}

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Points the SDK's standard chain of this process at `server` (AWS_ENDPOINT_URL_SSM, static
 * credentials, AWS_REGION), as an operator's shell would for the CLI; returns the restorer.
 */
export function useSsmServerInEnv(server: SsmTestServer): () => void {
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SSM: server.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDLOOPBACKTEST',
    AWS_SECRET_ACCESS_KEY: 'loopback-test-secret',
    AWS_REGION: server.region,
  });
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
}
