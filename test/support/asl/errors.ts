/**
 * Errors of the simulated Step Functions: a `StatesError` is what a state reports (name +
 * cause, caught by Retry/Catch); `NotImplementedError` is a definition feature this interpreter
 * does not simulate — thrown loudly, never ignored.
 */

/** An error a state reports, with its Step Functions error name and cause. */
export class StatesError extends Error {
  readonly error: string;
  override readonly cause: string;
  constructor(error: string, cause: string) {
    super(`${error}: ${cause}`);
    this.name = 'StatesError';
    this.error = error;
    this.cause = cause;
  }
}

/** A definition feature the simulation does not implement. */
export class NotImplementedError extends Error {
  constructor(what: string) {
    super(`not implemented: ${what}`);
    this.name = 'NotImplementedError';
  }
}

/**
 * Thrown by an `invoke` stand-in to say the Lambda *service* failed (throttling, service
 * exception) rather than the function: Step Functions names it `Lambda.<name>`.
 */
export class LambdaServiceError extends Error {
  constructor(name: string, message = name) {
    super(message);
    this.name = name;
  }
}

/** `StartExecution` with a taken name (SPEC of the API: different input, or a closed execution). */
export class ExecutionAlreadyExists extends Error {
  constructor(name: string) {
    super(`Execution Already Exists: '${name}'`);
    this.name = 'ExecutionAlreadyExists';
  }
}

export const runtimeError = (cause: string) => new StatesError('States.Runtime', cause);

/**
 * Whether an `ErrorEquals` list matches an error name. States.ALL matches every error but
 * States.Runtime and States.DataLimitExceeded; States.TaskFailed every error but States.Timeout
 * (and those two terminal ones).
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
export function matchesError(errorEquals: readonly string[], name: string): boolean {
  const terminal = name === 'States.Runtime' || name === 'States.DataLimitExceeded';
  for (const candidate of errorEquals) {
    if (candidate === name) return name !== 'States.Runtime';
    if (terminal) continue;
    if (candidate === 'States.ALL') return true;
    if (candidate === 'States.TaskFailed' && name !== 'States.Timeout') return true;
  }
  return false;
}
