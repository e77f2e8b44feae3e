/**
 * A real DynamoDB peer for tests: `dynalite` (DynamoDB's JSON protocol over LevelDB, in memory)
 * on 127.0.0.1 and a free port, with the run table created through the real SDK as
 * `infra/run-table.ts` declares it (partition key `id`, on demand), and real `DynamoDBClient`s
 * pointed at it with dummy credentials.
 */

import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { RUN_TABLE_KEY } from '../../lib/cloud/run-table-schema.ts';

// dynalite is CommonJS without type declarations: `dynalite(options)` answers an http.Server.
const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

export interface DynaliteServer {
  endpoint: string;
  /** A new client: each one stands for another Lambda invocation's own client. */
  client(): DynamoDBClient;
  /** Creates a run table with a fresh name and answers its name. */
  createTable(name?: string): Promise<string>;
  close(): Promise<void>;
}

let tables = 0;

/** Starts dynalite on loopback, in memory, with tables ready at once. */
export async function startDynalite(): Promise<DynaliteServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: DynamoDBClient[] = [];
  const client = (): DynamoDBClient => {
    const made = new DynamoDBClient({
      endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' },
      maxAttempts: 3,
    });
    clients.push(made);
    return made;
  };
  const admin = client();
  return {
    endpoint,
    client,
    async createTable(name) {
      tables += 1;
      const tableName = name ?? `runs-${process.pid}-${tables}`;
      await admin.send(
        new CreateTableCommand({
          TableName: tableName,
          AttributeDefinitions: [{ AttributeName: RUN_TABLE_KEY, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: RUN_TABLE_KEY, KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      await waitUntilTableExists({ client: admin, maxWaitTime: 60, minDelay: 1 }, { TableName: tableName });
      return tableName;
    },
    async close() {
      for (const made of clients) made.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
