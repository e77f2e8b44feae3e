/**
 * What every loopback AWS endpoint of the tests shares: listening on 127.0.0.1, closing, reading
 * a request's body, the SigV4 check, and the dummy credentials the real SDK clients sign with.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Credentials the real SDK clients sign with against loopback endpoints (never valid anywhere). */
export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

/** Listens on an ephemeral loopback port; `close` drops open connections first. */
export async function listenOnLoopback(http: Server): Promise<{ endpoint: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const { port } = http.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

/** The whole body of a request. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Whether the request carries a SigV4 `Authorization` header, as every SDK call does. */
export function isSigned(req: IncomingMessage): boolean {
  return String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 Credential=');
}

/** The config of a real SDK client pointed at a loopback endpoint: test credentials, no retries. */
export function loopbackClientConfig(endpoint: string, region = 'us-east-1') {
  return { endpoint, region, credentials: TEST_CREDENTIALS, maxAttempts: 1 };
}

/**
 * Points the SDK's standard chain of this process at loopback endpoints, as an operator's shell
 * would for the CLI: `AWS_ENDPOINT_URL_<SERVICE>` for each one named, the test credentials and
 * `AWS_REGION`. Returns the restorer, which puts the environment back as it was.
 */
export function useLoopbackEnv(endpoints: Record<string, string>, region: string): () => void {
  const saved = { ...process.env };
  for (const [service, endpoint] of Object.entries(endpoints)) {
    process.env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`] = endpoint;
  }
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: region,
  });
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
}
