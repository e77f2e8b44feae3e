/** What every loopback AWS endpoint of the tests shares: listening on 127.0.0.1, closing, dummy credentials. */
import type { Server } from 'node:http';
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
