/**
 * A loopback AWS JSON 1.1 endpoint for tests, for the calls the functions' configuration makes:
 * Secrets Manager's `GetSecretValue` (`X-Amz-Target: secretsmanager.GetSecretValue`) and SSM
 * Parameter Store's `GetParameter` (`AmazonSSM.GetParameter`). Errors are JSON with `__type`
 * (`ResourceNotFoundException`, `ParameterNotFound`), as the real services answer, so the real
 * `SecretsManagerClient` and `SSMClient` (pointed here with `endpoint`) parse them.
 */
import { createServer, type Server } from 'node:http';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { isSigned, listenOnLoopback, loopbackClientConfig, readBody } from './loopback.ts';

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
    void readBody(req).then((body) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      calls.push({ target, input, authorization: req.headers.authorization });
      const answer = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(body));
      if (req.method !== 'POST' || !isSigned(req)) {
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
  return { ...(await listenOnLoopback(http)), secrets, parameters, calls };
}

export function createTestSecretsClient(server: SecretsTestServer): SecretsManagerClient {
  return new SecretsManagerClient(loopbackClientConfig(server.endpoint));
}

export function createTestParameterClient(server: SecretsTestServer): SSMClient {
  return new SSMClient(loopbackClientConfig(server.endpoint));
}
