/**
 * `cloudiq-bootstrap serve` (SPEC 7.4): SPEC 7.1's API on 127.0.0.1 through the very handler the
 * Lambda function runs. Each HTTP request becomes a payload 2.0 event as API Gateway would build
 * it; long operations and fleet runs go to the in-process driver (lib/fleet/local-runs.ts). The
 * default fleet is the demo fleet (three hosts on this machine, under `.demo/` or
 * `CLOUDIQ_DEMO_DIR`); `--inventory FILE` serves a real inventory. Being on loopback is not
 * enough against other sites in the operator's browser: see `crossSiteRefusal`.
 */

import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type ApiHandler, createApiHandler } from '../api/handler.ts';
import { buildHttpEvent, errorResult, type HttpResult, MAX_BODY_BYTES } from '../api/http.ts';
import { allRoutes } from '../api/local-routes.ts';
import { readCallbackEnvironment } from '../cloud/environment.ts';
import { regionalClients } from '../cloud/regional-clients.ts';
import { loadInventory } from '../config/inventory.ts';
import { DEMO_ROOT } from '../demo/demo-fleet.ts';
import { createDemoFleet } from '../demo/static-fleet.ts';
import { BootstrapError, errorBody, exitCodeFor } from '../errors.ts';
import type { FleetResult } from '../fleet/aggregate.ts';
import type { Fleet } from '../fleet/fleet.ts';
import { createLocalRuns, type LocalRuns } from '../fleet/local-runs.ts';
import { createMemoryDeliveryLedger, createMemoryRunStore } from '../fleet/run-store.ts';
import { present } from '../optional.ts';
import { createDeliver } from '../orchestrate/deliver.ts';
import { createInventoryFleet } from '../orchestrate/inventory-fleet.ts';
import { ssmClientConfig } from '../transport/aws-http.ts';
import type { CliOptions } from './args.ts';
import { listDynamicHosts } from './dynamic-hosts.ts';
import type { CliIo } from './io.ts';
import { formatError } from './output.ts';

export const DEFAULT_PORT = 3000;

export interface ServeHandle {
  url: string;
  port: number;
  fleet: Fleet;
  worker: LocalRuns;
  /** Stops listening; with `waitForJobs`, also waits for the runs still going on in this process. */
  close(options?: { waitForJobs?: boolean }): Promise<void>;
}

function portOf(options: CliOptions): number {
  if (options.port === undefined) return DEFAULT_PORT;
  const port = /^[0-9]{1,5}$/.test(options.port) ? Number(options.port) : Number.NaN;
  if (!(port <= 65_535)) {
    throw new BootstrapError(
      'INVALID_REQUEST',
      `--port takes a port number, not ${JSON.stringify(options.port)}`,
    );
  }
  return port;
}

/**
 * The inventory's fleet, as the CLI builds it: this process is a composition root, so it makes
 * the SSM clients (one per region, from the SDK's standard chain) when an ssm host needs one.
 */
async function inventoryFleet(file: string, env: NodeJS.ProcessEnv): Promise<Fleet> {
  // Dynamic sources are listed once, when serving starts.
  const inventory = await listDynamicHosts(await loadInventory(file));
  const sdk = inventory.hosts.some((host) => host.transport === 'ssm')
    ? await import('../transport/ssm/sdk-commands.ts')
    : undefined;
  const clients = regionalClients((region) => {
    if (!sdk) throw new BootstrapError('INTERNAL', 'SSM client unavailable');
    return new sdk.SSMClient(ssmClientConfig(region));
  });
  const shell = env['BOOTSTRAP_LOCAL_SHELL'];
  // A server answers request after request: each host's connection stays open between them.
  const fleet = createInventoryFleet(inventory, {
    ...(shell ? { localShell: shell } : {}),
    ssmClientFor: clients.clientFor,
    keepConnections: true,
  });
  return {
    ...fleet,
    async close() {
      await fleet.close();
      for (const client of clients.made()) client.destroy();
    },
  };
}

async function fleetFor(options: CliOptions, io: CliIo): Promise<{ fleet: Fleet; banner: string }> {
  if (options.inventory !== undefined) {
    const fleet = await inventoryFleet(options.inventory, io.env);
    return { fleet, banner: `Inventory: ${options.inventory} (${fleet.servers().length} servers)` };
  }
  const root = io.env['CLOUDIQ_DEMO_DIR'] ? join(io.env['CLOUDIQ_DEMO_DIR']) : DEMO_ROOT;
  const demo = createDemoFleet(root);
  const names = demo.hosts.map((host) => host.name).join(', ');
  return {
    fleet: demo.fleet,
    banner:
      `Demo fleet: ${names}, on this machine under ${join(demo.root, 'hosts')}\n` +
      '  (each with its own bootstrap.ini, state dir and hooks; delete the folder to start afresh)',
  };
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve('too-large');
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, result: HttpResult, extra: Record<string, string> = {}): void {
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body, 'utf8');
  res.writeHead(result.statusCode, { ...result.headers, ...extra, 'content-length': String(body.length) });
  res.end(body);
}

/**
 * What Node's HTTP parser refuses before any handler runs — a method it does not know (`BREW`),
 * a malformed request line or header, headers too large — answered in SPEC 2.6's JSON too, never
 * Node's bare 400: an unknown method goes through the handler (405 with `Allow` on a known path,
 * 404 elsewhere, as API Gateway routes it); anything else is 400 (431 for oversized headers).
 */
async function answerClientError(
  error: Error & { code?: string; rawPacket?: Buffer },
  socket: Duplex,
  handler: ApiHandler,
): Promise<void> {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const line = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/\S*) HTTP\/\d\.\d\r?\n/.exec(
    error.rawPacket?.toString('latin1') ?? '',
  );
  let result: HttpResult;
  if (error.code === 'HPE_INVALID_METHOD' && line) {
    result = await handler(buildHttpEvent({ method: line[1]!, url: line[2]! }));
  } else {
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    result = errorResult(
      new BootstrapError(
        'INVALID_REQUEST',
        tooLarge ? 'request headers too large' : `malformed HTTP request (${error.code ?? error.message})`,
        { reason: tooLarge ? 'HEADERS_TOO_LARGE' : 'MALFORMED_REQUEST', parser: error.code ?? null },
      ),
      tooLarge ? 431 : 400,
    );
  }
  if (!socket.writable) return;
  const body = Buffer.from(result.body, 'utf8');
  const head = [
    `HTTP/1.1 ${result.statusCode} ${STATUS_CODES[result.statusCode] ?? ''}`,
    ...Object.entries(result.headers).map(([name, value]) => `${name}: ${value}`),
    `content-length: ${body.length}`,
    'connection: close',
    '',
    '',
  ].join('\r\n');
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

/** The names this server answers to in `Host` (and `Origin`): loopback only, as it listens. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

function isOwnHost(host: string, port: number): boolean {
  const lower = host.trim().toLowerCase();
  return LOOPBACK_NAMES.some((name) => lower === `${name}:${port}` || (port === 80 && lower === name));
}

/**
 * The local server's guard against other sites (the Lambda API, behind API Gateway and its
 * authorizer, has none of this): a page elsewhere may make the browser send "simple" requests
 * here (CSRF), or point its own name at 127.0.0.1 (DNS rebinding). So a request must name this
 * server in `Host` (a loopback name with the port), come from this server's own origin if it
 * names one, and send its body as `application/json`, which no form and no simple request can
 * (a browser asks first, and this server grants no other origin). The console's page, served
 * here, sends same-origin requests with that type.
 */
function crossSiteRefusal(req: IncomingMessage, port: number): (HttpResult & { reason: string }) | undefined {
  const refuse = (status: number, reason: string, message: string, details: Record<string, unknown>) => ({
    ...errorResult(new BootstrapError('INVALID_REQUEST', message, { reason, ...details }), status),
    reason,
  });
  const host = req.headers.host;
  if (host === undefined || !isOwnHost(host, port)) {
    return refuse(
      403,
      'HOST_NOT_LOCAL',
      `Host must be this server (127.0.0.1:${port} or localhost:${port})`,
      {
        host: host ?? null,
      },
    );
  }
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const own = origin.toLowerCase().startsWith('http://') && isOwnHost(origin.slice('http://'.length), port);
    if (!own) {
      return refuse(
        403,
        'CROSS_ORIGIN',
        `requests from ${origin} are refused: only this server's own pages`,
        {
          origin,
        },
      );
    }
  }
  const length = req.headers['content-length'];
  const carriesBody =
    (length !== undefined && length.trim() !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (carriesBody) {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      return refuse(415, 'NOT_JSON', 'a request body must be sent as Content-Type: application/json', {
        contentType: req.headers['content-type'] ?? null,
      });
    }
  }
  return undefined;
}

function examples(url: string): string {
  const json = `-H 'content-type: application/json'`;
  return [
    `  curl -s ${url}/servers`,
    `  curl -s ${url}/servers/web-1/heartbeat`,
    `  curl -s -X POST ${url}/servers/web-1/provision ${json} -d '{"role":"edge"}'`,
    `  curl -s ${url}/servers/web-1/operations/OPERATION_ID`,
    `  curl -s -X PATCH ${url}/servers/web-1/products/haproxy/config ${json} -d '{"maxconn":"4096"}'`,
    `  curl -s -X POST ${url}/fleet/upgrade ${json} -d '{"select":"group:edge","product":"deepfiler","version":"3.2.1"}'`,
  ].join('\n');
}

/** Starts the API server and resolves once it listens (tests use this; the CLI uses runServe). */
export async function startServe(options: CliOptions, io: CliIo): Promise<ServeHandle> {
  const port = portOf(options);
  const { fleet, banner } = await fleetFor(options, io);
  const log = (line: string) => io.stderr(`${line}\n`);
  const store = createMemoryRunStore();
  const deliver = createDeliver(io.env, (record) =>
    log(`callback ${record.event} ${record.operationId} ${record.target} attempts=${record.attempts}`),
  );
  const worker = createLocalRuns({ fleet, store, ledger: createMemoryDeliveryLedger(), deliver, log });
  // A quick change's callback goes on after its answer (a slow receiver must not hold the request).
  const callbacks = new Set<Promise<unknown>>();
  const callBack = async (callbackUrl: string, result: FleetResult) => {
    const sending = deliver(callbackUrl, result).catch((error: unknown) => {
      log(`callback ${result.operationId} failed: ${errorBody(error).message}`);
    });
    callbacks.add(sending);
    void sending.finally(() => callbacks.delete(sending));
  };
  const handler = createApiHandler(
    {
      fleet,
      dispatch: worker.dispatch,
      reserve: worker.reserve,
      callBack,
      runStore: store,
      allowPrivateCallbacks: readCallbackEnvironment(io.env).allowPrivate,
    },
    {
      // The API's routes and the fleet console's page (in the cloud, a function of its own).
      routes: allRoutes(),
      log: (record) =>
        log(
          `${record.method} ${record.path} ${record.status}${record.code ? ` ${record.code}` : ''} ${record.durationMs}ms`,
        ),
    },
  );

  let ownPort = port;
  // A request with no Host is refused below in SPEC 2.6's JSON, not by Node's bare 400.
  const server = createServer({ requireHostHeader: false }, (req, res) => {
    void (async () => {
      try {
        const refusal = crossSiteRefusal(req, ownPort);
        if (refusal) {
          log(
            `${req.method ?? '?'} ${(req.url ?? '?').split('?')[0]} ${refusal.statusCode} INVALID_REQUEST (${refusal.reason})`,
          );
          send(res, refusal, { connection: 'close' });
          return;
        }
        const body = await readBody(req);
        if (body === 'too-large') {
          const error = new BootstrapError(
            'INVALID_REQUEST',
            `request body larger than ${MAX_BODY_BYTES} bytes`,
            {
              reason: 'BODY_TOO_LARGE',
              limit: MAX_BODY_BYTES,
            },
          );
          send(res, errorResult(error), { connection: 'close' });
          return;
        }
        const event = buildHttpEvent({
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          headers: req.headers,
          body,
          ...present({ sourceIp: req.socket.remoteAddress }),
        });
        send(res, await handler(event));
      } catch (error) {
        if (!res.headersSent) send(res, errorResult(error));
        else res.destroy();
      }
    })();
  });
  server.on('clientError', (error, socket) => {
    answerClientError(error, socket, handler).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new BootstrapError('INVALID_REQUEST', `port ${port} is in use; choose another with --port`, {
              port,
            })
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  }).catch(async (error: unknown) => {
    await fleet.close();
    throw error;
  });
  const actual = (server.address() as AddressInfo).port;
  ownPort = actual;
  const url = `http://127.0.0.1:${actual}`;
  io.stdout(
    `cloudiq-bootstrap API on ${url} (Ctrl-C stops)\nFleet console: ${url}/\n${banner}\nTry:\n${examples(url)}\n`,
  );
  return {
    url,
    port: actual,
    fleet,
    worker,
    async close(closeOptions = {}) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (closeOptions.waitForJobs !== false) {
        await worker.idle();
        await Promise.all([...callbacks]);
      } else worker.stop();
      await fleet.close();
    },
  };
}

/** `cloudiq-bootstrap serve [--port 3000] [--inventory FILE]`: serves until SIGINT or SIGTERM. */
export async function runServe(options: CliOptions, io: CliIo): Promise<number> {
  let handle: ServeHandle;
  try {
    handle = await startServe(options, io);
  } catch (error) {
    // Reported here, as main() reports any command's failure (a busy port is INVALID_REQUEST, 2).
    const body = errorBody(error);
    if (options.json) io.stdout(`${JSON.stringify({ error: body })}\n`);
    else io.stderr(`${formatError(body)}\n`);
    return exitCodeFor(body.code);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  const running = handle.worker.running();
  if (running > 0) {
    io.stderr(
      `stopping; ${running} operation(s) go on on their hosts (GET …/operations/{id} once served again)\n`,
    );
  }
  await handle.close({ waitForJobs: false });
  return 0;
}
