/**
 * An in-process `ssh2.Server` on loopback for the faults a real sshd will not produce on
 * demand: a host key other than the trusted one, a socket dropped in the middle of output, a
 * server that offers only weak algorithms, and (without ssh2) a peer that never handshakes.
 * Every TCP connection is counted, and so is every call of the authentication handler, so
 * tests can prove that a refused host never saw a login attempt.
 */
import { createHash } from 'node:crypto';
import type { Server as NetServer, Socket } from 'node:net';
import { createServer } from 'node:net';
import type { Algorithms, Connection, ServerChannel } from 'ssh2';
import ssh2 from 'ssh2';

const { Server, utils } = ssh2;

export type FakeBehaviour =
  /** `exec` answers the program's first line as stdout ("echo WORD" prints WORD) and exits 0. */
  | 'echo'
  /** `exec` prints `bytes` of output, then the TCP socket is destroyed: no exit status, no EOF. */
  | 'drop-mid-output'
  /** `exec` is accepted, then the server stops reading its socket: a peer that went silent. */
  | 'freeze';

export interface FakeSshOptions {
  behaviour?: FakeBehaviour;
  /** Bytes printed before the drop. */
  bytes?: number;
  /** Offer only ssh-rsa (SHA-1), diffie-hellman-group14-sha1, aes128-cbc and hmac-sha1. */
  weakOnly?: boolean;
}

export interface FakeSshServer {
  host: string;
  port: number;
  /** `SHA256:…` of the server's host key. */
  hostKeyFingerprint: string;
  /** `TYPE BASE64` of the host key, for known_hosts lines. */
  hostPublicKey: string;
  /** TCP connections accepted. */
  readonly connections: number;
  /** Calls of the server's authentication handler. */
  readonly authAttempts: number;
  /** Exec requests received. */
  readonly execs: number;
  close(): Promise<void>;
}

const WEAK: Algorithms = {
  kex: ['diffie-hellman-group14-sha1'],
  serverHostKey: ['ssh-rsa'],
  cipher: ['aes128-cbc'],
  hmac: ['hmac-sha1'],
  compress: ['none'],
};

/**
 * ssh2's `generateKeyPairSync` writes about 3 in 1,000 ed25519 keys that its own parser then
 * refuses ("Malformed OpenSSH private key"): draw again until the key parses.
 */
function generateHostKey(weak: boolean): { private: string; public: string } {
  for (;;) {
    const keys = weak
      ? utils.generateKeyPairSync('rsa', { bits: 2048 })
      : utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(keys.private) instanceof Error)) return keys;
  }
}

/** Starts a fake SSH server on 127.0.0.1 with a fresh host key; any client key is accepted. */
export async function startFakeSshServer(options: FakeSshOptions = {}): Promise<FakeSshServer> {
  const keys = generateHostKey(options.weakOnly === true);
  const [keyType, base64] = keys.public.trim().split(/\s+/) as [string, string];
  const blob = Buffer.from(base64, 'base64');
  const counts = { connections: 0, authAttempts: 0, execs: 0 };
  const sockets = new Set<Socket>();

  const ssh = new Server(
    { hostKeys: [keys.private], ...(options.weakOnly ? { algorithms: WEAK } : {}) },
    (client: Connection) => {
      client.on('error', () => {});
      client.on('authentication', (ctx) => {
        counts.authAttempts += 1;
        ctx.accept();
      });
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec) => {
            counts.execs += 1;
            serveExec(acceptExec(), options, sockets);
          });
        });
      });
    },
  );
  const tcp = createServer((socket) => {
    counts.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    ssh.injectSocket(socket);
  });
  const port = await listen(tcp);
  return {
    host: '127.0.0.1',
    port,
    hostKeyFingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
    hostPublicKey: `${keyType} ${base64}`,
    get connections() {
      return counts.connections;
    },
    get authAttempts() {
      return counts.authAttempts;
    },
    get execs() {
      return counts.execs;
    },
    close: () => closeAll(tcp, sockets),
  };
}

function serveExec(channel: ServerChannel, options: FakeSshOptions, sockets: Set<Socket>): void {
  let program = '';
  channel.on('data', (chunk: Buffer) => {
    program += chunk.toString('utf8');
  });
  if (options.behaviour === 'freeze') {
    for (const socket of sockets) socket.pause();
    return;
  }
  channel.on('end', () => {
    if (options.behaviour === 'drop-mid-output') {
      channel.write(Buffer.alloc(options.bytes ?? 64 * 1024, 'x'), () => {
        // Give the bytes time to reach the client, then cut the wire without a goodbye.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 50);
      });
      return;
    }
    const word = /^echo (.*)$/m.exec(program)?.[1] ?? '';
    channel.write(`${word}\n`);
    channel.exit(0);
    channel.end();
  });
}

export interface StalledServer {
  host: string;
  port: number;
  readonly connections: number;
  close(): Promise<void>;
}

/** A TCP server that accepts and then says nothing, not even an SSH banner: a stalled handshake. */
export async function startStalledServer(): Promise<StalledServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const tcp = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(tcp);
  return {
    host: '127.0.0.1',
    port,
    get connections() {
      return connections;
    },
    close: () => closeAll(tcp, sockets),
  };
}

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address === 'object' && address) resolve(address.port);
      else reject(new Error('no port'));
    });
  });
}

function closeAll(server: NetServer, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}
