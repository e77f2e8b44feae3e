/**
 * A loopback AWS Step Functions endpoint for tests: `StartExecution` and `DescribeExecution` of
 * the service's JSON 1.0 protocol (`X-Amz-Target: AWSStepFunctions.StartExecution`), so that the
 * real `SFNClient` (pointed here with `endpoint`) starts executions as it does in AWS, with AWS's
 * documented name rule: a name is unique per state machine; the same name with the same input
 * while the execution runs answers the same execution, otherwise `ExecutionAlreadyExists`.
 * `onStart` hands a new execution to whatever runs it (the ASL simulator, in the tests).
 */
import { createServer, type Server } from 'node:http';
import { SFNClient } from '@aws-sdk/client-sfn';
import { isSigned, listenOnLoopback, loopbackClientConfig, readBody } from './loopback.ts';

export interface StartedExecution {
  stateMachineArn: string;
  name: string;
  input: string;
  executionArn: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  /** When it ended (epoch seconds, as the JSON protocol sends timestamps); none while it runs. */
  stopDate?: number;
}

export interface SfnTestServer {
  endpoint: string;
  executions: Map<string, StartedExecution>;
  /** Every StartExecution call, repeats included. */
  calls: { name: string; input: string }[];
  onStart: ((execution: StartedExecution) => void) | undefined;
  close(): Promise<void>;
}

function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

export async function startSfnServer(): Promise<SfnTestServer> {
  const state: SfnTestServer = {
    endpoint: '',
    executions: new Map(),
    calls: [],
    onStart: undefined,
    close: async () => {},
  };
  const http: Server = createServer((req, res) => {
    void readBody(req).then((received) => {
      const reply = (status: number, body: unknown, type?: string) => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.0',
          ...(type ? { 'x-amzn-errortype': type } : {}),
        });
        res.end(JSON.stringify(type ? { __type: type, message: String(body) } : body));
      };
      if (!isSigned(req)) {
        return reply(400, 'missing SigV4 authorization', 'MissingAuthenticationToken');
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse(received.toString('utf8') || '{}') as Record<string, string>;
      if (target === 'AWSStepFunctions.StartExecution') {
        const { stateMachineArn = '', name = '', input = '{}' } = body;
        if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) return reply(400, `bad name ${name}`, 'InvalidName');
        state.calls.push({ name, input });
        const executionArn = executionArnOf(stateMachineArn, name);
        const existing = state.executions.get(executionArn);
        if (existing) {
          if (existing.input === input && existing.status === 'RUNNING') {
            return reply(200, { executionArn, startDate: Date.now() / 1000 });
          }
          return reply(400, `Execution Already Exists: '${executionArn}'`, 'ExecutionAlreadyExists');
        }
        const execution: StartedExecution = { stateMachineArn, name, input, executionArn, status: 'RUNNING' };
        state.executions.set(executionArn, execution);
        reply(200, { executionArn, startDate: Date.now() / 1000 });
        state.onStart?.(execution);
        return;
      }
      if (target === 'AWSStepFunctions.DescribeExecution') {
        const execution = state.executions.get(body['executionArn'] ?? '');
        if (!execution) return reply(400, 'no such execution', 'ExecutionDoesNotExist');
        return reply(200, { ...execution, startDate: Date.now() / 1000 });
      }
      reply(400, `unsupported ${target}`, 'UnknownOperationException');
    });
  });
  const { endpoint, close } = await listenOnLoopback(http);
  state.endpoint = endpoint;
  state.close = close;
  return state;
}

export function createTestSfnClient(server: SfnTestServer): SFNClient {
  return new SFNClient(loopbackClientConfig(server.endpoint));
}
