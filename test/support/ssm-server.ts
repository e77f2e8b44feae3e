/**
 * A loopback AWS Systems Manager for tests: a `node:http` server on 127.0.0.1 that speaks SSM's
 * JSON 1.1 protocol (ssm-protocol.ts) for SendCommand, ListCommandInvocations,
 * GetCommandInvocation, ListCommands, CancelCommand (ssm-run-command.ts) and
 * DescribeInstanceInformation (ssm-inventory.ts), so that the real `SSMClient` can be pointed at
 * it with `endpoint`. Each instance id has a sandbox where a sent AWS-RunShellScript runs as the
 * agent runs it (ssm-shell.ts), with real statuses (Pending → InProgress → Success/Failed),
 * ResponseCode, and output cut as SSM cuts it (ssm-invocations.ts). Faults (ssm-faults.ts):
 * throttle every Nth call, HTML answers, Delayed, Undeliverable, delivery and execution timeouts,
 * other final statuses, unknown instances, invocations that are not visible yet right after
 * SendCommand.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm';
import { listenOnLoopback, TEST_CREDENTIALS, useLoopbackEnv } from './loopback.ts';
import { type CallFaults, callFault } from './ssm-faults.ts';
import { describeInstanceInformation, type ManagedInstanceRecord } from './ssm-inventory.ts';
import type { SendCommandBody, SsmInvocation } from './ssm-invocations.ts';
import { type SsmBody, type SsmCall, SsmError, ssmRequestListener } from './ssm-protocol.ts';
import { RunCommand, type RunCommandHost } from './ssm-run-command.ts';
import { createInstance, type SsmInstance, type SsmInstanceOptions } from './ssm-shell.ts';

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

/** The loopback SSM; see the file's TSDoc. */
export class SsmTestServer implements CallFaults, RunCommandHost {
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
  private readonly runCommand = new RunCommand(this);
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
    return this.runCommand.invocation(commandId, instanceId);
  }

  /** All invocations on one instance, oldest first. */
  invocationsOf(instanceId: string): SsmInvocation[] {
    return this.runCommand.invocationsOf(instanceId);
  }

  hasInstance(id: string): boolean {
    return this.instances.has(id);
  }

  async close(): Promise<void> {
    this.runCommand.stopAll();
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
        return this.runCommand.sendCommand(body as SendCommandBody);
      case 'ListCommandInvocations':
        return this.runCommand.listCommandInvocations(body);
      case 'GetCommandInvocation':
        return this.runCommand.getCommandInvocation(body);
      case 'ListCommands':
        return this.runCommand.listCommands(body);
      case 'CancelCommand':
        return this.runCommand.cancelCommand(body);
      case 'DescribeInstanceInformation':
        if (this.describeFault) throw new SsmError(this.describeFault.type, this.describeFault.message);
        return describeInstanceInformation(this, body, (type, message) => new SsmError(type, message));
      default:
        throw new SsmError('UnknownOperationException', `unknown operation ${action}`);
    }
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
