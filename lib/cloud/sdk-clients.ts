/**
 * The AWS SDK clients of a Lambda cold start, from the SDK's standard chain (region, credentials,
 * `AWS_ENDPOINT_URL_*`). The functions load this module with `import()` on their first
 * invocation, not at module init, and each client is made when first read: a cold start parses
 * and runs none of the SDK, and an invocation pays only for the services it calls.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig, ssmClientConfig } from '../transport/aws-http.ts';
import { regionalClients } from './regional-clients.ts';

export interface Clients {
  readonly s3: S3Client;
  /** The SSM client of the SDK's own region. */
  readonly ssm: SSMClient;
  readonly secrets: SecretsManagerClient;
  readonly sfn: SFNClient;
  readonly dynamodb: DynamoDBClient;
}

/** The clients, each made on first read and kept. */
export function createClients(): Clients {
  const made: Partial<Record<keyof Clients, unknown>> = {};
  const once = <K extends keyof Clients>(key: K, make: () => Clients[K]): Clients[K] => {
    made[key] ??= make();
    return made[key] as Clients[K];
  };
  return {
    get s3() {
      return once('s3', () => new S3Client(awsClientConfig()));
    },
    get ssm() {
      return once('ssm', () => new SSMClient(ssmClientConfig()));
    },
    get secrets() {
      return once('secrets', () => new SecretsManagerClient(awsClientConfig()));
    },
    get sfn() {
      return once('sfn', () => new SFNClient(awsClientConfig()));
    },
    get dynamodb() {
      return once('dynamodb', () => new DynamoDBClient(awsClientConfig()));
    },
  };
}

/** The SSM client of a host's region: `clients.ssm` for the default one, one more per other region, kept. */
export function ssmClientsFor(clients: Pick<Clients, 'ssm'>): (region: string | null) => SSMClient {
  return regionalClients((region) => (region === null ? clients.ssm : new SSMClient(ssmClientConfig(region))))
    .clientFor;
}
