/**
 * A real callback receiver on loopback (`node:http`, or `node:https` with a throwaway
 * certificate) that records every request, checks its signature with `verifySignature`, and
 * answers from a script: statuses, `Retry-After`, redirects, or never answering at all. Also a
 * tripwire that counts every outgoing connection of the test process and refuses any that would
 * leave 127.0.0.0/8.
 */
import { execFileSync } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, LookupFunction, Socket } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { verifySignature } from '../../lib/callback/index.ts';

/** One scripted answer: a status, a full answer, a redirect, or `'hang'` (never answer). */
export type ReceiverStep =
  | number
  | 'hang'
  | { status: number; headers?: Record<string, string>; body?: string }
  | { redirect: string; status?: number };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
  /** `verifySignature`'s verdict; undefined when the receiver has no secret. */
  signatureValid?: boolean;
  /** TLS SNI the client sent (https receivers only). */
  servername?: string | false | null;
}

export interface CallbackReceiverOptions {
  host?: string;
  port?: number;
  secret?: string;
  toleranceSeconds?: number;
  tls?: { key: string; cert: string };
  /** What to answer once the script is used up; 200 by default. */
  fallback?: ReceiverStep;
}

export interface CallbackReceiver {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  setScript(steps: ReceiverStep[]): void;
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port, answering `script` in order, then `fallback`. */
export async function startCallbackReceiver(
  script: ReceiverStep[] = [],
  options: CallbackReceiverOptions = {},
): Promise<CallbackReceiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  let steps = [...script];
  let accepted = 0;

  const answer = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    const record: ReceivedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      receivedAt: Date.now(),
    };
    if (options.secret !== undefined) {
      const header = req.headers['x-bootstrap-signature'];
      record.signatureValid =
        typeof header === 'string' &&
        verifySignature(body, header, options.secret, options.toleranceSeconds ?? 300);
    }
    if (options.tls !== undefined) record.servername = (req.socket as TLSSocket).servername;
    requests.push(record);
    const step = steps.shift() ?? options.fallback ?? 200;
    if (step === 'hang') return;
    if (typeof step === 'number') {
      res.writeHead(step, { 'Content-Type': 'text/plain' }).end(`status ${step}\n`);
    } else if ('redirect' in step) {
      res.writeHead(step.status ?? 302, { Location: step.redirect }).end();
    } else {
      res.writeHead(step.status, step.headers ?? {}).end(step.body ?? '');
    }
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  };

  const server =
    options.tls === undefined ? createHttpServer(handler) : createHttpsServer(options.tls, handler);
  server.on('connection', (socket: Socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const scheme = options.tls === undefined ? 'http' : 'https';
  return {
    url: `${scheme}://${host}:${port}`,
    port,
    requests,
    connections: () => accepted,
    setScript(next) {
      steps = [...next];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A throwaway self-signed certificate for `localhost` and 127.0.0.1 (needs the openssl CLI). */
export function createSelfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'callback-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ConnectionWatch {
  /** Every outgoing TCP connection the process started since `watchOutgoingConnections`. */
  attempts: { host: string; port: number }[];
  /** Those the tripwire stopped because they would have left 127.0.0.0/8. */
  blocked: string[];
  restore(): void;
}

function isLoopbackIp(address: string): boolean {
  return address === '::1' || (net.isIPv4(address) && address.startsWith('127.'));
}

/**
 * Counts every outgoing connection of this process and stops any to a non-loopback address
 * (before the SYN), so that a guard bug fails a test instead of reaching a real network.
 */
export function watchOutgoingConnections(): ConnectionWatch {
  const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => Socket };
  const original = proto.connect;
  const watch: ConnectionWatch = { attempts: [], blocked: [], restore: () => {} };
  proto.connect = function watchedConnect(this: Socket, ...args: unknown[]): Socket {
    const first = args[0];
    // net.connect hands over its normalised [options, callback] array as the first argument.
    const options = (Array.isArray(first) ? first[0] : first) as Record<string, unknown> | number | string;
    if (typeof options !== 'object' || options === null || typeof options['path'] === 'string') {
      return original.apply(this, args);
    }
    const host = typeof options['host'] === 'string' ? options['host'] : 'localhost';
    watch.attempts.push({ host, port: Number(options['port']) });
    const stop = (what: string): Error => {
      watch.blocked.push(what);
      return new Error(`tripwire: refused a connection to ${what}, outside 127.0.0.0/8`);
    };
    if (net.isIP(host) !== 0) {
      if (!isLoopbackIp(host)) {
        const error = stop(host);
        process.nextTick(() => this.destroy(error));
        return this;
      }
    } else {
      const lookup =
        (options['lookup'] as LookupFunction | undefined) ?? (dnsLookup as unknown as LookupFunction);
      const checked: LookupFunction = (name, lookupOptions, callback) => {
        lookup(name, lookupOptions, (error, address, family) => {
          const list =
            typeof address === 'string' ? [address] : (address ?? []).map((entry) => entry.address);
          const outside = list.find((entry) => !isLoopbackIp(entry));
          if (error === null && outside !== undefined) callback(stop(outside), '', 0);
          else callback(error, address as string, family);
        });
      };
      options['lookup'] = checked;
    }
    return original.apply(this, args);
  };
  watch.restore = () => {
    proto.connect = original;
  };
  return watch;
}
