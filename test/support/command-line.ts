// What the command-line tests share: a command line with no options given, and the refusal a
// parse throws.
import assert from 'node:assert/strict';

/** The CLI's options when none is given (toRequest's third argument). */
export const CLI_OPTIONS = {
  json: false,
  help: false,
  version: false,
  detach: false,
  dryRun: false,
  acceptNewHostKey: false,
  noHealthGate: false,
} as const;

/** The error `run` throws; fails the test when it throws none. */
export function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code: string; message: string };
  }
  assert.fail('expected a refusal');
}
