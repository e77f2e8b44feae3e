/**
 * How the loopback SSM (ssm-server.ts) keeps and reports commands and their invocations: the
 * records, the status of each invocation as it moves (Pending → … → a final status, every step
 * kept in `history`), and the answers of GetCommandInvocation, ListCommandInvocations and
 * ListCommands in SSM's own shapes, with output cut to 24,000 / 8,000 characters (2,500 in a
 * plugin's `Output`) as SSM cuts it, and `NextToken` paging.
 */
import type { ChildProcess } from 'node:child_process';

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

export interface SendCommandBody {
  DocumentName?: string;
  InstanceIds?: string[];
  Parameters?: Record<string, string[]>;
  TimeoutSeconds?: number;
  Comment?: string;
  MaxConcurrency?: string;
  MaxErrors?: string;
}

export interface CommandRecord {
  id: string;
  input: SendCommandBody;
  requestedAt: Date;
  visibleAt: number;
  invocations: Map<string, SsmInvocation>;
}

const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const PLUGIN_OUTPUT_LIMIT = 2_500;
export const FINAL = new Set(['Success', 'Failed', 'TimedOut', 'Cancelled']);

const NO_NOTIFICATION = { NotificationArn: '', NotificationEvents: [], NotificationType: '' };
const NO_CLOUDWATCH = { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false };

/** A new invocation, `Pending`. */
export function newInvocation(record: CommandRecord, instanceId: string): SsmInvocation {
  return {
    commandId: record.id,
    instanceId,
    requestedAt: record.requestedAt,
    status: 'Pending',
    details: 'Pending',
    responseCode: -1,
    stdout: '',
    stderr: '',
    timers: [],
    history: ['Pending/Pending'],
  };
}

export function setStatus(inv: SsmInvocation, status: string, details: string): void {
  inv.status = status;
  inv.details = details;
  inv.history.push(`${status}/${details}`);
}

/** Ends the invocation with this status (no process ran, or it is gone). */
export function endInvocation(inv: SsmInvocation, status: string, details: string): void {
  setStatus(inv, status, details);
  inv.endedAt = new Date();
}

/** One page of `items` from SSM's opaque `NextToken` (here the offset, base64). */
export function pageOf<T>(items: T[], token: unknown, size: number): { page: T[]; NextToken?: string } {
  const start = token ? Number(Buffer.from(String(token), 'base64').toString()) : 0;
  const next = start + size < items.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
  return { page: items.slice(start, start + size), ...(next ? { NextToken: next } : {}) };
}

/** A `CommandInvocation` of ListCommandInvocations; its plugin only with `Details`. */
export function invocationShape(
  inv: SsmInvocation,
  record: CommandRecord | undefined,
  region: string,
  details: boolean,
): unknown {
  const plugin = {
    Name: 'aws:runShellScript',
    Status: inv.status,
    StatusDetails: inv.details,
    ResponseCode: inv.responseCode,
    ...(inv.startedAt ? { ResponseStartDateTime: inv.startedAt.getTime() / 1000 } : {}),
    ...(inv.endedAt ? { ResponseFinishDateTime: inv.endedAt.getTime() / 1000 } : {}),
    Output: FINAL.has(inv.status) ? pluginOutput(inv) : '',
    StandardOutputUrl: '',
    StandardErrorUrl: '',
    OutputS3Region: region,
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
    NotificationConfig: NO_NOTIFICATION,
    CloudWatchOutputConfig: NO_CLOUDWATCH,
  };
}

/** GetCommandInvocation's answer: output only once the invocation is final. */
export function getInvocationShape(inv: SsmInvocation, record: CommandRecord | undefined): unknown {
  const final = FINAL.has(inv.status);
  const elapsed = inv.startedAt
    ? ((inv.endedAt ?? new Date()).getTime() - inv.startedAt.getTime()) / 1000
    : 0;
  return {
    CommandId: inv.commandId,
    InstanceId: inv.instanceId,
    Comment: record?.input.Comment ?? '',
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
    CloudWatchOutputConfig: NO_CLOUDWATCH,
  };
}

/** A `Command` (SendCommand, ListCommands): its status and counts from its invocations'. */
export function commandShape(record: CommandRecord, region: string): unknown {
  const invocations = [...record.invocations.values()];
  const count = (pred: (inv: SsmInvocation) => boolean) => invocations.filter(pred).length;
  const done = count((inv) => FINAL.has(inv.status));
  const ok = count((inv) => inv.status === 'Success');
  const status =
    done < invocations.length ? (done === 0 ? 'Pending' : 'InProgress') : ok === done ? 'Success' : 'Failed';
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
    OutputS3Region: region,
    OutputS3BucketName: '',
    OutputS3KeyPrefix: '',
    MaxConcurrency: record.input.MaxConcurrency ?? '50',
    MaxErrors: record.input.MaxErrors ?? '0',
    TargetCount: invocations.length,
    CompletedCount: done,
    ErrorCount: done - ok,
    DeliveryTimedOutCount: count((inv) => inv.details === 'DeliveryTimedOut'),
    ServiceRole: '',
    NotificationConfig: NO_NOTIFICATION,
    CloudWatchOutputConfig: NO_CLOUDWATCH,
    TimeoutSeconds: record.input.TimeoutSeconds ?? 3600,
  };
}

function pluginOutput(inv: SsmInvocation): string {
  const text = inv.stderr ? `${inv.stdout}\n----------ERROR-------\n${inv.stderr}` : inv.stdout;
  return text.length > PLUGIN_OUTPUT_LIMIT
    ? `${text.slice(0, PLUGIN_OUTPUT_LIMIT)}\n---Output truncated---`
    : text;
}
