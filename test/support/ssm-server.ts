/**
 * A loopback AWS Systems Manager for tests: a `node:http` server on 127.0.0.1 that speaks SSM's
 * JSON 1.1 protocol (ssm-protocol.ts) for SendCommand, ListCommandInvocations,
 * GetCommandInvocation, ListCommands, CancelCommand and DescribeInstanceInformation
 * (ssm-inventory.ts), so that the real `SSMClient` can be pointed at it with `endpoint`. Each
 * instance id has a sandbox where a sent AWS-RunShellScript runs as the agent runs it
 * (ssm-shell.ts), with real statuses (Pending → InProgress → Success/Failed), ResponseCode, and
 * output cut as SSM cuts it (ssm-invocations.ts). Faults (ssm-faults.ts): throttle every Nth call,
 * HTML answers, Delayed, Undeliverable, delivery and execution timeouts, other final statuses,
 * unknown instances, invocations that are not visible yet right after SendCommand.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { listenOnLoopback, TEST_CREDENTIALS, useLoopbackEnv } from './loopback.ts';
import { type CallFaults, callFault, deliver } from './ssm-faults.ts';
import { describeInstanceInformation, type ManagedInstanceRecord } from './ssm-inventory.ts';
import {
  type CommandRecord,
  commandShape,
  endInvocation,
  FINAL,
  getInvocationShape,
  invocationShape,
  newInvocation,
  pageOf,
  type SendCommandBody,
  type SsmInvocation,
  setStatus,
} from './ssm-invocations.ts';
import { type SsmBody, type SsmCall, SsmError, ssmRequestListener } from './ssm-protocol.ts';
import {
  createInstance,
  killGroup,
  runScript,
  type SsmInstance,
  type SsmInstanceOptions,
} from './ssm-shell.ts';

export type { InstanceFault } from './ssm-faults.ts';
export type { SsmInvocation } from './ssm-invocations.ts';
export type { SsmInstance, SsmInstanceOptions } from './ssm-shell.ts';

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

const INSTANCE_ID = /^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;

/** The loopback SSM; see the file's TSDoc. */
export class SsmTestServer implements CallFaults {
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
  endpoint = '';
  private readonly instances = new Map<string, SsmInstance>();
  private readonly commands = new Map<string, CommandRecord>();
  private received = 0;
  private stop: () => Promise<void> = async () => {};

  constructor(options: SsmServerOptions = {}) {
    this.region = options.region ?? 'eu-west-1';
    this.throttleEvery = options.throttleEvery;
    this.throttleError = options.throttleError ?? 'ThrottlingException';
    this.registrationLagMs = options.registrationLagMs ?? 0;
    this.deliveryMs = options.deliveryMs ?? 5;
  }

  async listen(): Promise<this> {
    const { endpoint, close } = await listenOnLoopback(
      createServer(ssmRequestListener((call) => this.serve(call))),
    );
    this.endpoint = endpoint;
    this.stop = close;
    return this;
  }

  /** Registers a managed node with its own sandbox. */
  addInstance(id: string, options: SsmInstanceOptions = {}): SsmInstance {
    const instance = createInstance(id, options);
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
    await this.stop();
    for (const instance of this.instances.values()) rmSync(instance.root, { recursive: true, force: true });
  }

  private serve(call: SsmCall) {
    this.accessKeys.push(call.accessKey);
    this.received += 1;
    const fault = callFault(this, call.action, this.received);
    if (fault) return fault;
    const json = this.dispatch(call.action, call.body());
    this.calls[call.action] = (this.calls[call.action] ?? 0) + 1;
    return { json };
  }

  private dispatch(action: string, body: SsmBody): unknown {
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
    return { Command: commandShape(record, this.region) };
  }

  private startInvocation(record: CommandRecord, instance: SsmInstance): SsmInvocation {
    const inv = newInvocation(record, instance.id);
    const fault = instance.fault ?? {};
    deliver(fault, this.deliveryMs, {
      later: (ms, step) => inv.timers.push(setTimeout(step, ms)),
      cancelled: () => inv.cancelled === true,
      delayed: () => setStatus(inv, 'Delayed', 'Delayed'),
      end: (status, details) => endInvocation(inv, status, details),
      run: () => runScript(record, instance, inv, this.region, fault.executionTimeoutAfterMs),
    });
    return inv;
  }

  private visible(commandId: unknown): CommandRecord | undefined {
    const record = this.commands.get(String(commandId));
    return record && Date.now() >= record.visibleAt ? record : undefined;
  }

  private listCommandInvocations(body: SsmBody): unknown {
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
    const { page, ...next } = pageOf(all, body['NextToken'], max);
    return {
      CommandInvocations: page.map((inv) =>
        invocationShape(inv, this.commands.get(inv.commandId), this.region, body['Details'] === true),
      ),
      ...next,
    };
  }

  private getCommandInvocation(body: SsmBody): unknown {
    const inv = this.visible(body['CommandId'])?.invocations.get(String(body['InstanceId']));
    if (!inv) throw new SsmError('InvocationDoesNotExist', 'Invocation does not exist');
    if (body['PluginName'] !== undefined && body['PluginName'] !== 'aws:runShellScript') {
      throw new SsmError('InvalidPluginName', 'Invalid plugin name');
    }
    return getInvocationShape(inv, this.commands.get(inv.commandId));
  }

  private listCommands(body: SsmBody): unknown {
    const records =
      body['CommandId'] === undefined
        ? [...this.commands.values()]
        : [this.commands.get(String(body['CommandId']))];
    if (records.some((r) => r === undefined)) throw new SsmError('InvalidCommandId', 'Invalid command id');
    const wanted = body['InstanceId'] === undefined ? undefined : String(body['InstanceId']);
    return {
      Commands: records
        .filter((r): r is CommandRecord => r !== undefined && (!wanted || r.invocations.has(wanted)))
        .map((r) => commandShape(r, this.region)),
    };
  }

  private cancelCommand(body: SsmBody): unknown {
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
        endInvocation(inv, 'Cancelled', 'Cancelled');
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
    credentials: TEST_CREDENTIALS,
    retryMode: 'adaptive',
    ...config,
  });
}

/** A syntactically valid, distinct instance id for test host number `n`. */
export function testInstanceId(n: number): string {
  return `i-${n.toString(16).padStart(17, '0')}`;
}

/**
 * Points the SDK's standard chain of this process at `server` (AWS_ENDPOINT_URL_SSM, static
 * credentials, AWS_REGION), as an operator's shell would for the CLI; returns the restorer.
 */
export function useSsmServerInEnv(server: SsmTestServer): () => void {
  return useLoopbackEnv({ ssm: server.endpoint }, server.region);
}
