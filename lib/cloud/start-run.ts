/**
 * Starting a run in the cloud: a Step Functions execution named by its operation id (SPEC 7.3
 * v2). Step Functions keeps names unique per state machine: the same name with the same input
 * starts nothing new, and with another input (a repeat accepted at another time) answers
 * `ExecutionAlreadyExists` — the run already exists, which is what the caller wanted.
 */
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';

/** An execution name: the operation id, or, past Step Functions' 80 characters, its head and a hash. */
export function executionName(operationId: string): string {
  if (operationId.length <= 80) return operationId;
  let hash = 0x811c9dc5;
  for (const char of operationId) hash = Math.imul(hash ^ char.codePointAt(0)!, 0x01000193) >>> 0;
  return `${operationId.slice(0, 63)}-${hash.toString(16).padStart(8, '0')}`.slice(0, 80);
}

/** The ARN an execution of `stateMachineArn` named `name` has (`…:stateMachine:M` → `…:execution:M:name`). */
export function executionArn(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** Starts (or finds) the execution named after `operationId`; answers its ARN and whether it is new. */
export async function startNamedExecution(
  client: SFNClient,
  stateMachineArn: string,
  operationId: string,
  input: unknown,
): Promise<{ executionArn: string; started: boolean }> {
  const name = executionName(operationId);
  try {
    const answer = await client.send(
      new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
    );
    return { executionArn: answer.executionArn ?? executionArn(stateMachineArn, name), started: true };
  } catch (error) {
    if ((error as { name?: string }).name !== 'ExecutionAlreadyExists') throw error;
    return { executionArn: executionArn(stateMachineArn, name), started: false };
  }
}

/**
 * When the execution of this ARN ended, in milliseconds since the epoch (its `stopDate`; 0 when
 * Step Functions has no such execution any more, past its 90 days), or undefined while it runs.
 * Any other error rejects: the caller cannot tell.
 */
export async function executionEnded(client: SFNClient, executionArn: string): Promise<number | undefined> {
  try {
    const answer = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (answer.status === 'RUNNING') return undefined;
    return answer.stopDate?.getTime() ?? Date.now();
  } catch (error) {
    if ((error as { name?: string }).name === 'ExecutionDoesNotExist') return 0;
    throw error;
  }
}

export { SFNClient };
