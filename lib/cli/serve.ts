import { BootstrapError } from '../errors.ts';
import type { CliOptions } from './args.ts';
import type { CliIo } from './main.ts';

/** `cloudiq-bootstrap serve`: the HTTP API, locally (SPEC 7.4). */
export async function runServe(_options: CliOptions, _io: CliIo): Promise<number> {
  throw new BootstrapError(
    'INTERNAL',
    'serve: not implemented yet (the API handler lands with the Lambda functions)',
  );
}
