/**
 * Following one sent command to the end of each of its invocations: `ListCommandInvocations`
 * (`Details: true`, one call per 50 instances per poll) until an invocation is final; an
 * invocation whose plugin `Output` is known to be whole is done with that, any other that ran
 * is read once with `GetCommandInvocation`. Throttling stretches the backoff and is never a
 * failure; an invocation not listed yet (eventual consistency right after SendCommand) or not
 * found yet (`InvocationDoesNotExist`) is simply waited for.
 */
import type { CommandInvocation, SSMClient } from '@aws-sdk/client-ssm';
import { BootstrapError } from '../../errors.ts';
import { ssmCommands } from './load-sdk.ts';
import {
  awsErrorName,
  Backoff,
  type BackoffOptions,
  codeForAwsError,
  isThrottling,
  notSsmAnswer,
} from './retry.ts';
import { judgeInvocation } from './status.ts';

export interface InvocationRequest {
  instanceId: string;
  /** The AWS-RunShellScript `commands` text. */
  commands: string;
  /** Sets `executionTimeout` and `TimeoutSeconds` (delivery) on the command. */
  timeoutMs?: number;
  /** Stops waiting and cancels the invocation; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Whether the plugin `Output` that ListCommandInvocations shows (its first 2,500 characters,
   * stderr appended) is known to be the whole stdout; if so no GetCommandInvocation is made.
   */
  isWholeOutput?: (output: string) => boolean;
}

/** A final invocation as SSM reported it. */
export interface InvocationResult {
  commandId: string;
  instanceId: string;
  status: string;
  statusDetails: string;
  responseCode: number;
  stdout: string;
  stderr: string;
}

export type EntryState = 'queued' | 'sending' | 'sent' | 'fetching' | 'settled';

export interface Entry {
  request: InvocationRequest;
  state: EntryState;
  commandId?: string;
  resolve(result: InvocationResult): void;
  reject(error: unknown): void;
}

/** Consecutive failures (other than throttling) after which the invocations are given up. */
const MAX_FAILURES = 5;

/** Polls `commandId` until every entry still `sent` has settled. */
export async function followCommand(
  client: SSMClient,
  commandId: string,
  entries: Entry[],
  backoffOptions: BackoffOptions,
  sleepers: Map<string, AbortController>,
): Promise<void> {
  const backoff = new Backoff(backoffOptions);
  const byInstance = new Map(entries.map((e) => [e.request.instanceId, e]));
  const waiting = () => entries.filter((e) => e.state === 'sent');
  let failures = 0;
  while (waiting().length > 0) {
    const sleeper = new AbortController();
    sleepers.set(commandId, sleeper);
    await backoff.wait(sleeper.signal).catch(() => {});
    sleepers.delete(commandId);
    if (waiting().length === 0) return;
    let invocations: CommandInvocation[];
    try {
      invocations = await listInvocations(client, commandId);
      backoff.succeeded();
      failures = 0;
    } catch (error) {
      if (isThrottling(error)) backoff.throttled();
      else if (notSsmAnswer(error) || ++failures >= MAX_FAILURES) {
        for (const entry of waiting()) {
          entry.reject(await apiError(client, 'ListCommandInvocations', error, entry.request.instanceId));
        }
        return;
      }
      continue;
    }
    // Right after SendCommand an invocation may not be listed yet (eventual consistency): it is just waited for.
    for (const invocation of invocations) {
      const entry = byInstance.get(invocation.InstanceId ?? '');
      if (entry?.state !== 'sent') continue;
      const verdict = judgeInvocation(invocation.Status, invocation.StatusDetails);
      if (verdict.kind === 'waiting') continue;
      const plugin = invocation.CommandPlugins?.[0];
      const output = plugin?.Output;
      const whole = verdict.kind === 'ran' && output !== undefined && entry.request.isWholeOutput?.(output);
      if (verdict.kind === 'ran' && !whole) {
        entry.state = 'fetching';
        void fetchOutput(client, commandId, entry, backoffOptions);
        continue;
      }
      // Final without output to read (undeliverable, timed out, …), or read whole from the listing.
      entry.resolve({
        commandId,
        instanceId: entry.request.instanceId,
        status: invocation.Status ?? '',
        statusDetails: invocation.StatusDetails ?? '',
        responseCode: plugin?.ResponseCode ?? -1,
        stdout: whole ? (output ?? '') : '',
        stderr: '',
      });
    }
  }
}

async function listInvocations(client: SSMClient, commandId: string): Promise<CommandInvocation[]> {
  const all: CommandInvocation[] = [];
  let token: string | undefined;
  // Loaded on first use (as batcher.ts does): the SDK stays out of a process with no SSM host.
  const { ListCommandInvocationsCommand } = await ssmCommands();
  do {
    const out = await client.send(
      new ListCommandInvocationsCommand({
        CommandId: commandId,
        Details: true,
        MaxResults: 50,
        ...(token ? { NextToken: token } : {}),
      }),
    );
    all.push(...(out.CommandInvocations ?? []));
    token = out.NextToken;
  } while (token);
  return all;
}

async function fetchOutput(
  client: SSMClient,
  commandId: string,
  entry: Entry,
  backoffOptions: BackoffOptions,
): Promise<void> {
  const backoff = new Backoff(backoffOptions);
  const instanceId = entry.request.instanceId;
  let failures = 0;
  const { GetCommandInvocationCommand } = await ssmCommands();
  while (entry.state === 'fetching') {
    try {
      const out = await client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
      entry.resolve({
        commandId,
        instanceId,
        status: out.Status ?? '',
        statusDetails: out.StatusDetails ?? '',
        responseCode: out.ResponseCode ?? -1,
        stdout: out.StandardOutputContent ?? '',
        stderr: out.StandardErrorContent ?? '',
      });
      return;
    } catch (error) {
      if (isThrottling(error)) backoff.throttled();
      else if (
        notSsmAnswer(error) ||
        (awsErrorName(error) !== 'InvocationDoesNotExist' && ++failures >= MAX_FAILURES)
      ) {
        entry.reject(await apiError(client, 'GetCommandInvocation', error, instanceId));
        return;
      }
      await backoff.wait();
    }
  }
}

/** An endpoint URL as it may be named in a message: never with a user or password in it. */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

/** Where the client's calls go, for a message: the configured endpoint, else the regional one. */
async function endpointOf(client: SSMClient): Promise<string> {
  try {
    const configured = await client.config.endpoint?.();
    if (configured) {
      const port = configured.port === undefined ? '' : `:${configured.port}`;
      return `${configured.protocol}//${configured.hostname}${port}${configured.path}`;
    }
    // The SDK reads these itself; they are read here only to name the endpoint in a message.
    const fromEnv = process.env['AWS_ENDPOINT_URL_SSM'] || process.env['AWS_ENDPOINT_URL'];
    if (fromEnv) return withoutCredentials(fromEnv);
    return `https://ssm.${await client.config.region()}.amazonaws.com`;
  } catch {
    return 'the SSM endpoint';
  }
}

/** An SSM API failure (after the SDK's retries) as a BootstrapError naming the instance. */
export async function apiError(
  client: SSMClient,
  action: string,
  error: unknown,
  instanceId: string,
): Promise<BootstrapError> {
  if (error instanceof BootstrapError) return error;
  const name = awsErrorName(error);
  const base = { server: instanceId, transport: 'ssm', instanceId, awsError: name };
  const other = notSsmAnswer(error);
  if (other) {
    const endpoint = await endpointOf(client);
    const what = `HTTP ${other.httpStatus ?? '?'}${other.contentType ? ` (${other.contentType})` : ''}`;
    return new BootstrapError(
      codeForAwsError(error),
      `${instanceId}: SSM ${action}: ${endpoint} answered ${what}, not SSM's JSON (${other.parser}); ` +
        'check AWS_ENDPOINT_URL_SSM, the region (AWS_REGION or --region) and any proxy on the way (HTTPS_PROXY)',
      { ...base, reason: 'not-ssm', endpoint, ...other },
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BootstrapError(
    codeForAwsError(error),
    `${instanceId}: SSM ${action} failed: ${name}: ${message}`,
    base,
    { cause: error },
  );
}
