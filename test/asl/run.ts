/** Small helpers for the interpreter's own tests: run a definition, build a task state. */
import { type Invoke, SimulatedStepFunctions, type SimulationOptions } from '../support/asl/index.ts';

export async function runDefinition(definition: object, input: unknown, options: SimulationOptions = {}) {
  const sim = new SimulatedStepFunctions(options);
  const execution = sim.startExecution({ definition, input });
  return { sim, execution, result: await execution.result() };
}

export const lambdaTask = (functionName: string, extra: object = {}) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: functionName, 'Payload.$': '$' },
  OutputPath: '$.Payload',
  ...extra,
});

/** An in-memory S3 stand-in. */
export function memoryS3() {
  const objects = new Map<string, string>();
  return {
    objects,
    async getObject(bucket: string, key: string) {
      const body = objects.get(`${bucket}/${key}`);
      if (body === undefined)
        throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      return body;
    },
    async putObject(bucket: string, key: string, body: string) {
      objects.set(`${bucket}/${key}`, body);
    },
  };
}

export const echo: Invoke = async (_target, payload) => payload;
