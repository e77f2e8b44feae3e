/**
 * One delivery attempt: a POST over `node:http`/`node:https` to the address the guard validated.
 * Not `fetch`: it follows redirects and resolves the name again, and either would undo the guard.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ValidatedTarget } from './guard.ts';

export interface PostAnswer {
  status: number;
  headers: IncomingHttpHeaders;
}

export class AttemptTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

export interface PostOptions {
  timeoutMs: number;
  /** Extra trusted CA certificates (PEM) for https receivers behind a private CA. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/** A lookup that ignores the name and answers the validated address: no second resolution. */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * POSTs `body` once and settles with the status line and headers as soon as they arrive; the
 * deadline covers connecting, TLS and waiting for the answer.
 */
export function postOnce(
  target: ValidatedTarget,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<PostAnswer> {
  return new Promise<PostAnswer>((resolve, reject) => {
    const send = target.secure ? httpsRequest : httpRequest;
    const byName = target.literalAddress === undefined;
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => clearTimeout(timer);
    let req: ReturnType<typeof httpRequest>;
    try {
      req = send({
        // A name stays the name (so TLS checks its certificate and SNI carries it) while the
        // pinned lookup makes the socket go to the validated address.
        hostname: byName ? target.hostname : target.address,
        port: target.port,
        path: target.path,
        method: 'POST',
        headers: { ...headers, Host: target.url.host, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup: pinnedLookup(target.address, target.family),
        agent: false,
        ...(target.secure && byName ? { servername: target.hostname } : {}),
        ...(target.secure && options.ca !== undefined
          ? { ca: options.ca as string | Buffer | (string | Buffer)[] }
          : {}),
      });
    } catch (error) {
      reject(error);
      return;
    }
    timer = setTimeout(() => req.destroy(new AttemptTimeoutError(options.timeoutMs)), options.timeoutMs);
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.on('close', done);
    req.on('response', (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      // The answer is decided by the status; the body is read and dropped so the socket closes
      // cleanly, still under the deadline.
      res.on('error', () => {});
      res.on('end', done);
      res.resume();
    });
    req.end(body);
  });
}
