/**
 * A loopback AWS JSON 1.1 endpoint for tests, for the calls the functions' configuration makes:
 * Secrets Manager's `GetSecretValue` (`X-Amz-Target: secretsmanager.GetSecretValue`) and SSM
 * Parameter Store's `GetParameter` (`AmazonSSM.GetParameter`). Errors are JSON with `__type`
 * (`ResourceNotFoundException`, `ParameterNotFound`), as the real services answer, so the real
 * `SecretsManagerClient` and `SSMClient` (pointed here with `endpoint`) parse them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';

export interface JsonCall {
  target: string;
  input: Record<string, unknown>;
  authorization: string | undefined;
}

export interface SecretsTestServer {
  endpoint: string;
  /** Secret id (ARN or name) → SecretString. */
  secrets: Map<string, string>;
  /** Parameter name → value (SecureString values are returned decrypted when asked). */
  parameters: Map<string, string>;
  calls: JsonCall[];
  close(): Promise<void>;
}

export async function startSecretsServer(): Promise<SecretsTestServer> {
  const secrets = new Map<string, string>();
  const parameters = new Map<string, string>();
  const calls: JsonCall[] = [];
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      calls.push({ target, input, authorization: req.headers.authorization });
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
      if (req.method !== 'POST' || !req.headers.authorization?.startsWith('AWS4-HMAC-SHA256')) {
        return answer(400, { __type: 'AccessDeniedException', message: 'unsigned request' });
      }
      if (target === 'secretsmanager.GetSecretValue') {
        const id = String(input['SecretId'] ?? '');
        const value = secrets.get(id);
        if (value === undefined) {
          return answer(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        }
        return answer(200, {
          ARN: id.startsWith('arn:') ? id : `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}`,
          Name: id.split(':').pop(),
          SecretString: value,
          VersionId: 'v1',
          VersionStages: ['AWSCURRENT'],
          CreatedDate: Date.now() / 1000,
        });
      }
      if (target === 'AmazonSSM.GetParameter') {
        const name = String(input['Name'] ?? '');
        const value = parameters.get(name);
        if (value === undefined)
          return answer(400, { __type: 'ParameterNotFound', message: `${name} not found` });
        return answer(200, {
          Parameter: {
            Name: name,
            Type: 'SecureString',
            Value: value,
            Version: 1,
            ARN: `arn:aws:ssm:::parameter${name}`,
          },
        });
      }
      answer(400, { __type: 'UnknownOperationException', message: `unknown operation ${target}` });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const { port } = http.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    secrets,
    parameters,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

const testClientConfig = (server: SecretsTestServer) => ({
  endpoint: server.endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
  maxAttempts: 1,
});

export function createTestSecretsClient(server: SecretsTestServer): SecretsManagerClient {
  return new SecretsManagerClient(testClientConfig(server));
}

export function createTestParameterClient(server: SecretsTestServer): SSMClient {
  return new SSMClient(testClientConfig(server));
}
