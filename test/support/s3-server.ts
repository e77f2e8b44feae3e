/**
 * A loopback Amazon S3 for tests: a `node:http` server on 127.0.0.1 that speaks S3's REST
 * protocol path-style (`GET|PUT /bucket/key`, `GET /bucket?list-type=2`), errors as S3's XML
 * (`NoSuchKey`, `NoSuchBucket`), so that the real `S3Client` (with `endpoint` and
 * `forcePathStyle`) reads and writes it. Requests must carry a SigV4 `Authorization` header, as
 * the SDK signs them; `aws-chunked` uploads (the SDK's flexible checksums) are decoded.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { isSigned, listenOnLoopback, loopbackClientConfig, readBody } from './loopback.ts';

export interface S3Request {
  method: string;
  bucket: string;
  key: string;
  query: Record<string, string>;
  authorization: string | undefined;
}

export interface S3TestServer {
  endpoint: string;
  /** bucket → key → bytes. */
  buckets: Map<string, Map<string, Buffer>>;
  requests: S3Request[];
  /** Keys per ListObjectsV2 page (default 1000), small in tests to exercise paging. */
  pageSize: number;
  put(bucket: string, key: string, body: string | Buffer): void;
  text(bucket: string, key: string): string | undefined;
  close(): Promise<void>;
}

const xml = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message><RequestId>test</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'test' }).end(body);
}

/** `aws-chunked`: `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0\r\n<trailers>\r\n\r\n`. */
function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = Number.parseInt(data.subarray(at, eol).toString('latin1').split(';')[0]!, 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

function listPage(
  server: S3TestServer,
  objects: Map<string, Buffer>,
  bucket: string,
  query: Record<string, string>,
) {
  const prefix = query['prefix'] ?? '';
  const pageSize = Math.min(Number(query['max-keys'] ?? 1000), server.pageSize);
  const keys = [...objects.keys()].filter((key) => key.startsWith(prefix)).sort();
  const start = query['continuation-token'] === undefined ? 0 : Number(query['continuation-token']);
  const page = keys.slice(start, start + pageSize);
  const truncated = start + pageSize < keys.length;
  const contents = page
    .map(
      (key) =>
        `<Contents><Key>${xml(key)}</Key><Size>${objects.get(key)!.length}</Size><ETag>"${createHash('md5').update(objects.get(key)!).digest('hex')}"</ETag><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>${xml(bucket)}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount>` +
    `<MaxKeys>${pageSize}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}` +
    (truncated ? `<NextContinuationToken>${start + pageSize}</NextContinuationToken>` : '') +
    `</ListBucketResult>`
  );
}

/** Starts the server on a free loopback port with the given buckets (empty ones allowed). */
export async function startS3Server(bucketNames: string[] = []): Promise<S3TestServer> {
  const buckets = new Map(bucketNames.map((name) => [name, new Map<string, Buffer>()]));
  const requests: S3Request[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.map((part) => decodeURIComponent(part)).join('/');
    const query = Object.fromEntries(url.searchParams);
    const authorization = req.headers.authorization;
    requests.push({ method: req.method ?? '', bucket, key, query, authorization });
    if (!isSigned(req)) {
      return sendError(res, 403, 'AccessDenied', 'no SigV4 signature');
    }
    const objects = buckets.get(bucket);
    if (!objects) return sendError(res, 404, 'NoSuchBucket', `no bucket ${bucket}`);
    if (req.method === 'GET' && key === '' && query['list-type'] === '2') {
      res.writeHead(200, { 'content-type': 'application/xml' }).end(listPage(server, objects, bucket, query));
      return;
    }
    if (req.method === 'GET') {
      const object = objects.get(key);
      if (!object) return sendError(res, 404, 'NoSuchKey', 'The specified key does not exist.');
      res
        .writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(object.length),
          etag: `"${createHash('md5').update(object).digest('hex')}"`,
          'last-modified': new Date().toUTCString(),
        })
        .end(object);
      return;
    }
    if (req.method === 'PUT' && key !== '') {
      const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked');
      const data = chunked ? decodeChunked(body) : body;
      objects.set(key, data);
      res.writeHead(200, { etag: `"${createHash('md5').update(data).digest('hex')}"` }).end();
      return;
    }
    sendError(res, 405, 'MethodNotAllowed', `${req.method} is not supported here`);
  };
  const http: Server = createServer((req, res) => {
    void readBody(req).then((body) => handle(req, res, body));
  });
  const { endpoint, close } = await listenOnLoopback(http);
  const server: S3TestServer = {
    endpoint,
    buckets,
    requests,
    pageSize: 1000,
    put(bucket, key, body) {
      if (!buckets.has(bucket)) buckets.set(bucket, new Map());
      buckets.get(bucket)!.set(key, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'));
    },
    text: (bucket, key) => buckets.get(bucket)?.get(key)?.toString('utf8'),
    close,
  };
  return server;
}

/** The real S3Client pointed at the loopback server, path-style, with static test credentials. */
export function createTestS3Client(server: S3TestServer): S3Client {
  return new S3Client({ ...loopbackClientConfig(server.endpoint), forcePathStyle: true });
}
