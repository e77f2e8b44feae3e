import { BootstrapError, errorBody, exitCodeFor } from '../errors.ts';
import type { CommandRequest } from '../operations/types.ts';
import { VERSION } from '../version.ts';
import { type CliOptions, parseCli, toRequest } from './args.ts';
import { helpFor } from './help.ts';
import type { CliIo } from './io.ts';
import { formatError } from './output.ts';
import { runFleetCli } from './run-fleet.ts';
import { runSingle } from './run-single.ts';
import { resolveSingleTarget } from './targets.ts';

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stderrIsTty: process.stderr.isTTY === true,
  stdoutIsTty: process.stdout.isTTY === true,
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
    return await runOne(request, options, io);
  } catch (error) {
    const body = errorBody(error);
    if (json) io.stdout(`${JSON.stringify({ error: body })}\n`);
    else io.stderr(`${formatError(body)}\n`);
    return exitCodeFor(body.code);
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
