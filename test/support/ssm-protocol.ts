/**
 * SSM's JSON 1.1 wire protocol for the loopback SSM (ssm-server.ts): `POST /` with
 * `X-Amz-Target: AmazonSSM.<Action>`, `Content-Type: application/x-amz-json-1.1` and a SigV4
 * signature, answered in JSON; errors as HTTP 400 with `__type` (modeled SSM errors carry
 * `Message`, the common ones such as throttling and auth `message`), anything else as a 500.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isSigned, readBody } from './loopback.ts';

export type SsmBody = Record<string, unknown>;

/** An error SSM answers with its `__type`. */
export class SsmError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** One signed call: its action, the access key it was signed with, its body (parsed when read). */
export interface SsmCall {
  action: string;
  accessKey: string;
  body(): SsmBody;
}

/** What a call is answered with: SSM's JSON, or a page as something that is not SSM answers. */
export type SsmAnswer = { json: unknown } | { html: { status: number; page: string } };

/** The request listener: checks the envelope, hands the call to `serve`, writes the answer. */
export function ssmRequestListener(serve: (call: SsmCall) => SsmAnswer): RequestListener {
  return (req, res) => void answer(req, res, serve);
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  serve: (call: SsmCall) => SsmAnswer,
): Promise<void> {
  const text = (await readBody(req)).toString('utf8');
  const target = String(req.headers['x-amz-target'] ?? '');
  const action = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
  try {
    if (req.method !== 'POST' || req.url !== '/')
      throw new SsmError('UnknownOperationException', 'POST / only');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
      throw new SsmError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
    }
    if (!isSigned(req))
      throw new SsmError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const accessKey = /Credential=([^/]+)/.exec(String(req.headers.authorization))?.[1] ?? '';
    const answered = serve({ action, accessKey, body: () => JSON.parse(text || '{}') as SsmBody });
    if ('html' in answered) {
      res.writeHead(answered.html.status, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(answered.html.page);
      return;
    }
    reply(res, 200, answered.json);
  } catch (error) {
    if (error instanceof SsmError) {
      const key = /Exception$/.test(error.type) ? 'message' : 'Message';
      reply(res, 400, { __type: error.type, [key]: error.message });
    } else {
      reply(res, 500, { __type: 'InternalServerError', Message: String(error) });
    }
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
  });
  res.end(text);
}
