import type { SSMClient } from '@aws-sdk/client-ssm';
import { BootstrapError, type ErrorCode } from '../../errors.ts';
import { ABSENT_RECORD } from '../../host/kept-code.ts';
import { present } from '../../optional.ts';
import { withDeadline } from '../../time/deadline.ts';
import type { ExecRequest, ExecResult, Transport } from '../types.ts';
import { type InvocationResult, type SsmBatcher, sharedBatcher } from './batcher.ts';
import {
  assemblePages,
  type Frame,
  isStoredPath,
  isWholeListedFrame,
  pageCount,
  parseFrame,
  parsePage,
  renderCommands,
  renderPageProgram,
} from './frame.ts';
import { judgeInvocation } from './status.ts';

export interface SsmTransportOptions {
  /**
   * The SSM client, built by the caller (never here) with the SDK's standard chain for
   * credentials, region and endpoint. Use `retryMode: 'adaptive'`: the SDK then retries
   * throttling itself and slows the whole client down while SSM throttles.
   */
  client: SSMClient;
  /** The managed node: `i-` + 8 or 17 hex digits, or `mi-` + 17 for hybrid nodes. */
  instanceId: string;
  /** The client's region, reported in error details (the client decides where calls go). */
  region?: string;
  /** Name in results; the instance id by default. */
  target?: string;
  /** Shares `SendCommand` calls with other transports; the one batcher of `client` by default. */
  batcher?: SsmBatcher;
  /** Beyond `timeoutMs`, how long to let SSM report its own timeout before giving up locally (default 15 s). */
  graceMs?: number;
}

/**
 * The client's region, asked of the SDK's chain (environment, profile) before any call: without
 * one every call fails with the SDK's bare "Region is missing", which reads like an unreachable
 * host instead of what it is, a setting to make. The setting named is the one that applies: a
 * host named by the caller (`target`: an inventory's `[host:NAME]`) takes `region =` in its
 * section, while `--region` goes with `--ssm` only (a transport for `--ssm INSTANCE_ID` is named
 * by its instance id).
 */
async function requireRegion(
  client: SSMClient,
  named: string | undefined,
  details: Record<string, unknown>,
): Promise<void> {
  try {
    await client.config.region();
  } catch (error) {
    const where =
      named === undefined
        ? { message: 'no AWS region: set AWS_REGION or --region', details: { option: '--region' } }
        : {
            message: `no AWS region for ${named}: set region = in its [host:${named}] section of the inventory, or AWS_REGION`,
            details: { section: `host:${named}`, key: 'region' },
          };
    throw new BootstrapError(
      'CONFIG_ERROR',
      where.message,
      { ...details, ...where.details, setting: 'region' },
      { cause: error },
    );
  }
}

/** A listed plugin `Output` that is the whole answer of a cached command (frame.ts `renderCommands`). */
const isWholeCachedAnswer = (output: string) => output === '' || isWholeListedFrame(output);

const INSTANCE_ID = /^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$/;

/** True when `value` is an instance id SSM accepts. */
export function isInstanceId(value: string): boolean {
  return INSTANCE_ID.test(value);
}

/**
 * A managed node through AWS Systems Manager Run Command: the program goes out as
 * AWS-RunShellScript (wrapped and framed as lib/transport/ssm/frame.ts explains), shares its
 * `SendCommand` with every host running the same program, and comes back whole however long.
 */
export function createSsmTransport(options: SsmTransportOptions): Transport {
  const { client, instanceId } = options;
  if (!isInstanceId(instanceId)) {
    throw new BootstrapError('INVALID_REQUEST', `not an SSM instance id: ${JSON.stringify(instanceId)}`, {
      instanceId,
    });
  }
  const target = options.target ?? instanceId;
  const batcher = options.batcher ?? sharedBatcher(client);
  const graceMs = options.graceMs ?? 15_000;
  const base = {
    server: target,
    transport: 'ssm',
    instanceId,
    ...(options.region ? { region: options.region } : {}),
  };
  let closed = false;
  let regionKnown: Promise<void> | undefined;

  const fail = (code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) =>
    new BootstrapError(code, `${target}: ${message}`, { ...base, ...details }, present({ cause }));

  async function invoke(
    commands: string,
    request: ExecRequest,
    signal: AbortSignal,
    isWholeOutput?: (output: string) => boolean,
  ): Promise<InvocationResult> {
    const result = await batcher.run({
      instanceId,
      commands,
      signal,
      ...present({ timeoutMs: request.timeoutMs }),
      ...(isWholeOutput ? { isWholeOutput } : {}),
    });
    const verdict = judgeInvocation(result.status, result.statusDetails);
    const ssm = {
      commandId: result.commandId,
      ssmStatus: result.status,
      ssmStatusDetails: result.statusDetails,
      responseCode: result.responseCode,
    };
    if (verdict.kind === 'error') throw fail(verdict.code, verdict.reason, ssm);
    if (verdict.kind === 'waiting')
      throw fail('INTERNAL', `SSM answered a non-final status ${result.status}`, ssm);
    return result;
  }

  async function readPages(
    frame: Extract<Frame, { kind: 'paged' }>,
    request: ExecRequest,
    signal: AbortSignal,
  ) {
    if (!isStoredPath(frame.path)) throw fail('INTERNAL', `unexpected stored output path ${frame.path}`);
    const pages = [frame.firstPage];
    // Pages are read one after the other: each is a command of its own, and the last one cleans up.
    for (let index = 1; index < pageCount(frame); index++) {
      const result = await invoke(renderPageProgram(frame, index), request, signal);
      const page = parsePage(result.stdout, index);
      if (!page) {
        throw fail('UNREACHABLE', `could not read page ${index} of the program's output`, {
          reason: 'output-lost',
          commandId: result.commandId,
          stderr: result.stderr,
        });
      }
      pages.push(page);
    }
    const stdout = assemblePages(frame, pages);
    if (stdout === undefined)
      throw fail('UNREACHABLE', "the program's paged output does not add up", { reason: 'output-lost' });
    return stdout;
  }

  async function run(request: ExecRequest, signal: AbortSignal): Promise<ExecResult> {
    const { commands, cached } = renderCommands(request.program);
    const result = await invoke(commands, request, signal, cached ? isWholeCachedAnswer : isWholeListedFrame);
    // A cached command that says nothing found no usable cache on the host, and ran nothing: it
    // answers what the cached form says then (lib/host/host-code.ts renderLoadedForm).
    if (cached && result.stdout === '' && result.responseCode === 0)
      return { stdout: `${ABSENT_RECORD}\n`, stderr: '', exitCode: 0 };
    const frame = parseFrame(result.stdout);
    if (!frame) {
      // The wrapper never printed its header: the program did not run as sent.
      throw fail('UNREACHABLE', 'the SSM wrapper did not run the program', {
        reason: 'unframed-output',
        commandId: result.commandId,
        responseCode: result.responseCode,
        stderr: result.stderr,
      });
    }
    if (frame.kind === 'missing') {
      // Said by the wrapper before it decoded anything: nothing of the program ran.
      throw fail(
        'UNREACHABLE',
        `the host has no ${frame.tool}, which the SSM transport needs to carry the program`,
        {
          reason: 'missing-tool',
          tool: frame.tool,
          commandId: result.commandId,
        },
      );
    }
    if (frame.kind === 'inline')
      return { stdout: frame.stdout, stderr: frame.stderr, exitCode: frame.exitCode };
    const stdout = await readPages(frame, request, signal);
    return { stdout, stderr: frame.stderr, exitCode: frame.exitCode };
  }

  return {
    kind: 'ssm',
    target,
    async exec(request: ExecRequest): Promise<ExecResult> {
      if (closed) throw fail('INTERNAL', 'ssm transport used after close');
      regionKnown ??= requireRegion(client, options.target, base);
      await regionKnown;
      return withDeadline(
        {
          ms: request.timeoutMs === undefined ? undefined : request.timeoutMs + graceMs,
          signal: request.signal,
          timeoutError: () =>
            fail('TRANSPORT_TIMEOUT', `no answer within ${request.timeoutMs} ms`, { reason: 'cancelled' }),
        },
        async (signal) => {
          try {
            return await run(request, signal);
          } catch (error) {
            if (!signal.aborted || error instanceof BootstrapError) throw error;
            throw fail('TRANSPORT_TIMEOUT', 'the caller gave up waiting', { reason: 'cancelled' }, error);
          }
        },
      );
    },
    async close() {
      closed = true;
    },
  };
}
