/**
 * A loopback AWS Lambda for tests: the `Invoke` call of Lambda's REST protocol
 * (`POST /2015-03-31/functions/{name}/invocations`, `X-Amz-Invocation-Type: Event` answered 202)
 * recording each event, so that the real `LambdaClient` (pointed here with `endpoint`) can hand
 * work over as it does in AWS. `onEvent` lets a test run the invoked function for real.
 */
import { createServer, type Server } from 'node:http';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { isSigned, listenOnLoopback, loopbackClientConfig, readBody } from './loopback.ts';

export interface Invocation {
  functionName: string;
  invocationType: string;
  event: unknown;
}

export interface LambdaTestServer {
  endpoint: string;
  invocations: Invocation[];
  onEvent: ((invocation: Invocation) => void) | undefined;
  /** The functions that exist; when set, others are `ResourceNotFoundException`. */
  functions: Set<string> | undefined;
  close(): Promise<void>;
}

export async function startLambdaServer(): Promise<LambdaTestServer> {
  const invocations: Invocation[] = [];
  const state: LambdaTestServer = {
    endpoint: '',
    invocations,
    onEvent: undefined,
    functions: undefined,
    close: async () => {},
  };
  const http: Server = createServer((req, res) => {
    void readBody(req).then((received) => {
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(
        new URL(req.url ?? '/', 'http://x').pathname,
      );
      const known = match && (!state.functions || state.functions.has(decodeURIComponent(match[1]!)));
      if (req.method !== 'POST' || !known || !isSigned(req)) {
        res.writeHead(404, {
          'content-type': 'application/json',
          'x-amzn-errortype': 'ResourceNotFoundException',
        });
        res.end(JSON.stringify({ Type: 'User', message: 'Function not found' }));
        return;
      }
      const invocation: Invocation = {
        functionName: decodeURIComponent(match![1]!),
        invocationType: String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse'),
        event: JSON.parse(received.toString('utf8') || 'null'),
      };
      invocations.push(invocation);
      state.onEvent?.(invocation);
      if (invocation.invocationType === 'Event') {
        res.writeHead(202, { 'x-amzn-requestid': `req-${invocations.length}` }).end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('null');
      }
    });
  });
  const { endpoint, close } = await listenOnLoopback(http);
  state.endpoint = endpoint;
  state.close = close;
  return state;
}

export function createTestLambdaClient(server: LambdaTestServer): LambdaClient {
  return new LambdaClient(loopbackClientConfig(server.endpoint));
}
