/**
 * Run Command in the loopback SSM (ssm-server.ts): SendCommand, ListCommandInvocations,
 * GetCommandInvocation, ListCommands and CancelCommand as SSM validates and answers them, over
 * the commands sent so far. Each invocation is delivered (with the instance's faults,
 * ssm-faults.ts) and its script run as the agent runs it (ssm-shell.ts); a new command's
 * invocations stay invisible for `registrationLagMs`, as SSM's right after SendCommand can.
 */
import { randomUUID } from 'node:crypto';
import { deliver } from './ssm-faults.ts';
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
import { type SsmBody, SsmError } from './ssm-protocol.ts';
import { killGroup, runScript, type SsmInstance } from './ssm-shell.ts';

const INSTANCE_ID = /^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;

/** What Run Command reads of the server at each call (its settings may change between calls). */
export interface RunCommandHost {
  readonly region: string;
  readonly registrationLagMs: number;
  readonly deliveryMs: number;
  /** Every accepted SendCommand request body, in order (appended here). */
  readonly sendCommands: SendCommandBody[];
  hasInstance(id: string): boolean;
  instance(id: string): SsmInstance;
}

/** The commands sent to one loopback SSM, and the actions on them. */
export class RunCommand {
  private readonly commands = new Map<string, CommandRecord>();

  constructor(private readonly server: RunCommandHost) {}

  /** What SSM currently reports for one invocation. */
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

  /** Stops every pending delivery and kills every script still running. */
  stopAll(): void {
    for (const command of this.commands.values()) {
      for (const inv of command.invocations.values()) {
        for (const timer of inv.timers) clearTimeout(timer);
        killGroup(inv.child, 'SIGKILL');
      }
    }
  }

  sendCommand(body: SendCommandBody): unknown {
    if (body.DocumentName !== 'AWS-RunShellScript')
      throw new SsmError('InvalidDocument', 'Document not found');
    const ids = body.InstanceIds ?? [];
    if (ids.length === 0 || ids.length > 50) {
      throw new SsmError('ValidationException', 'instanceIds must have length between 1 and 50');
    }
    if (new Set(ids).size !== ids.length) throw new SsmError('DuplicateInstanceId', 'Duplicate instance id');
    if (ids.some((id) => !INSTANCE_ID.test(id) || !this.server.hasInstance(id))) {
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
    this.server.sendCommands.push(body);
    const record: CommandRecord = {
      id: randomUUID(),
      input: body,
      requestedAt: new Date(),
      visibleAt: Date.now() + this.server.registrationLagMs,
      invocations: new Map(),
    };
    this.commands.set(record.id, record);
    for (const id of ids) record.invocations.set(id, this.startInvocation(record, this.server.instance(id)));
    return { Command: commandShape(record, this.server.region) };
  }

  private startInvocation(record: CommandRecord, instance: SsmInstance): SsmInvocation {
    const inv = newInvocation(record, instance.id);
    const fault = instance.fault ?? {};
    deliver(fault, this.server.deliveryMs, {
      later: (ms, step) => inv.timers.push(setTimeout(step, ms)),
      cancelled: () => inv.cancelled === true,
      delayed: () => setStatus(inv, 'Delayed', 'Delayed'),
      end: (status, details) => endInvocation(inv, status, details),
      run: () => runScript(record, instance, inv, this.server.region, fault.executionTimeoutAfterMs),
    });
    return inv;
  }

  private visible(commandId: unknown): CommandRecord | undefined {
    const record = this.commands.get(String(commandId));
    return record && Date.now() >= record.visibleAt ? record : undefined;
  }

  listCommandInvocations(body: SsmBody): unknown {
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
        invocationShape(inv, this.commands.get(inv.commandId), this.server.region, body['Details'] === true),
      ),
      ...next,
    };
  }

  getCommandInvocation(body: SsmBody): unknown {
    const inv = this.visible(body['CommandId'])?.invocations.get(String(body['InstanceId']));
    if (!inv) throw new SsmError('InvocationDoesNotExist', 'Invocation does not exist');
    if (body['PluginName'] !== undefined && body['PluginName'] !== 'aws:runShellScript') {
      throw new SsmError('InvalidPluginName', 'Invalid plugin name');
    }
    return getInvocationShape(inv, this.commands.get(inv.commandId));
  }

  listCommands(body: SsmBody): unknown {
    const records =
      body['CommandId'] === undefined
        ? [...this.commands.values()]
        : [this.commands.get(String(body['CommandId']))];
    if (records.some((r) => r === undefined)) throw new SsmError('InvalidCommandId', 'Invalid command id');
    const wanted = body['InstanceId'] === undefined ? undefined : String(body['InstanceId']);
    return {
      Commands: records
        .filter((r): r is CommandRecord => r !== undefined && (!wanted || r.invocations.has(wanted)))
        .map((r) => commandShape(r, this.server.region)),
    };
  }

  cancelCommand(body: SsmBody): unknown {
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
