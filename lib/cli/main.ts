import { BootstrapError, errorBody, exitCodeFor, toBootstrapError } from '../errors.ts';
import type { CommandRequest } from '../operations/types.ts';
import { VERSION } from '../version.ts';
import { type CliOptions, parseCli, refuseUndecodable, toRequest } from './args.ts';
import { helpFor } from './help.ts';
import type { CliIo } from './io.ts';
import { formatError } from './output.ts';
import { processRawArguments } from './raw-argv.ts';
import { runFleetCli } from './run-fleet.ts';
import { runSingle } from './run-single.ts';
import { resolveSingleTarget } from './targets.ts';

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stderrIsTty: process.stderr.isTTY === true,
  stdoutIsTty: process.stdout.isTTY === true,
  rawArguments: processRawArguments,
  onInterrupt: (onStop) => {
    const stop = (signal: 'SIGINT' | 'SIGTERM') => {
      onStop(signal);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
  },
};

/**
 * The AWS SDK prints an 8-line notice on every run under Node 20 (its releases after early
 * January 2027 need Node 22). The Node versions this tool supports are stated in package.json's
 * `engines` and the README, so the notice only drowns the CLI's output. The SDK's documented
 * switch (aws/aws-sdk-js-v3#7983) turns off that one notice and no other warning; an operator who
 * sets it to anything else still sees it.
 */
function quietSdkNodeVersionNotice(env: NodeJS.ProcessEnv): void {
  env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
}

/** Runs one command line; resolves to the process exit code (SPEC 2.6). */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // The SDK reads the switch from the process environment when a client is built.
  quietSdkNodeVersionNotice(process.env);
  let json = argv.includes('--json');
  try {
    refuseUndecodable(argv, io.rawArguments?.(argv) ?? null);
    const { command, positionals, options } = parseCli(argv);
    json = options.json;
    if (options.version) {
      io.stdout(`cloudiq-bootstrap ${VERSION}\n`);
      return 0;
    }
    if (options.help || command === null) {
      io.stdout(`${helpFor(command)}\n`);
      // Bare `cloudiq-bootstrap` asks for help; options without a command are a mistake.
      return command === null && !options.help && argv.length > 0 ? 2 : 0;
    }
    if (command === 'demo') return await (await import('./demo.ts')).runDemo(io);
    if (command === 'serve') return await (await import('./serve.ts')).runServe(options, io);
    const request = toRequest(command, positionals, options);
    if (options.callback !== undefined) await checkCallbackOption(options.callback, io.env);
    return await runOne(request, options, io);
  } catch (error) {
    const body = errorBody(error);
    if (json) io.stdout(`${JSON.stringify({ error: body })}\n`);
    else io.stderr(`${formatError(body)}\n`);
    return exitCodeFor(body.code);
  }
}

/**
 * `--callback URL` is request input (SPEC 2.6): checked before anything runs, as the API checks
 * its `callbackUrl` (the body field's schema, then the guard's parse: scheme, credentials, https
 * except to loopback, literal addresses; `CALLBACK_ALLOW_PRIVATE` as at delivery), so a URL the
 * API answers 400 for is INVALID_REQUEST here too, and nothing changes. The resolved address is
 * checked at delivery.
 * `[server] callback_url` is the host's to give: read with the operation, as the API reads it,
 * and a refusal of it is recorded in the result (`callback.delivered: false`).
 */
async function checkCallbackOption(url: string, env: NodeJS.ProcessEnv): Promise<void> {
  // Loaded only when a callback is named: a CLI start without one parses none of it.
  const [{ LONG_BODY_FIELDS }, { parseCallbackUrl }, { readCallbackEnvironment }] = await Promise.all([
    import('../api/params.ts'),
    import('../callback/index.ts'),
    import('../cloud/environment.ts'),
  ]);
  // The API's `callbackUrl` field first (its length), then its URL check.
  const field = LONG_BODY_FIELDS.callbackUrl.safeParse(url);
  if (!field.success) {
    const problem = field.error.issues[0]?.message ?? 'invalid';
    throw new BootstrapError('INVALID_REQUEST', `--callback: ${problem}`, { option: '--callback' });
  }
  const { allowPrivate } = readCallbackEnvironment(env);
  try {
    parseCallbackUrl(url, { allowPrivate });
  } catch (error) {
    const refusal = toBootstrapError(error);
    throw new BootstrapError('INVALID_REQUEST', `--callback: ${refusal.message}`, {
      ...refusal.details,
      option: '--callback',
    });
  }
}

async function runOne(request: CommandRequest, options: CliOptions, io: CliIo): Promise<number> {
  if (options.inventory !== undefined) return runFleetCli(request, options, io);
  if (options.select !== undefined)
    throw new BootstrapError('INVALID_REQUEST', '--select goes with --inventory FILE');
  const host = await resolveSingleTarget(options, io.env);
  try {
    return await runSingle(host, request, options, io);
  } finally {
    await host.transport.close();
  }
}
