// `serve` answers every request in SPEC 2.6's JSON shape, including the ones Node's HTTP parser
// refuses before any handler runs: an unknown method (405 on a known path, 404 elsewhere), a
// malformed request line or header (400), oversized headers (431); and malformed requests that
// do reach the handler (bad percent-encoding, bad JSON, an oversized body). Raw sockets, so that
// nothing between the test and the server tidies the request up.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { useDemoServe } from './serve-setup.ts';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: { code: string; message: string; details: Record<string, unknown> };
}

describe('serve: malformed and unknown requests get SPEC 2.6 JSON', () => {
  const demo = useDemoServe('serve-malformed-');

  /** Sends bytes as they are and reads the whole answer (the server closes or keeps the socket). */
  function raw(request: string): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const socket = connect(demo.server.port, '127.0.0.1');
      let text = '';
      const finish = () => {
        const at = text.indexOf('\r\n\r\n');
        const [statusLine = '', ...lines] = text.slice(0, at).split('\r\n');
        const headers = Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
        );
        const length = Number(headers['content-length']);
        const body = text.slice(at + 4, at + 4 + length);
        try {
          resolve({ status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) });
        } catch {
          reject(new Error(`not JSON: ${JSON.stringify(text)}`));
        }
      };
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        const at = text.indexOf('\r\n\r\n');
        const length = /content-length: *(\d+)/i.exec(text.slice(0, at))?.[1];
        if (at >= 0 && length !== undefined && text.length >= at + 4 + Number(length)) {
          socket.destroy();
          finish();
        }
      });
      socket.on('end', finish);
      socket.on('error', reject);
      // serve answers only requests that name it in Host (DNS rebinding): these name it.
      socket.write(request.replace('\r\nHost: x\r\n', `\r\nHost: 127.0.0.1:${demo.server.port}\r\n`));
    });
  }

  function assertShape(answer: RawAnswer, status: number, reason: string): void {
    assert.equal(answer.status, status, JSON.stringify(answer));
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'details', 'message']);
    assert.equal(answer.body.code, 'INVALID_REQUEST');
    assert.equal(answer.body.details['reason'], reason, JSON.stringify(answer.body));
  }

  it('an unknown method: 405 with Allow on a known path, 404 elsewhere', async () => {
    for (const method of ['BREW', 'FROB', 'PROPFIND', 'MKCOL']) {
      const known = await raw(`${method} /servers HTTP/1.1\r\nHost: x\r\n\r\n`);
      assertShape(known, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(known.headers['allow'], 'GET');
      assertShape(await raw(`${method} /teapot HTTP/1.1\r\nHost: x\r\n\r\n`), 404, 'NO_ROUTE');
    }
    const product = await raw('BREW /servers/web-1/products/haproxy HTTP/1.1\r\nHost: x\r\n\r\n');
    assertShape(product, 405, 'METHOD_NOT_ALLOWED');
  });

  it('malformed request lines and headers: 400; oversized headers: 431', async () => {
    for (const request of [
      'GET /ser vers HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /servers HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET /servers HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET /servers HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'GET /servers HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    ]) {
      assertShape(await raw(request), 400, 'MALFORMED_REQUEST');
    }
    const big = await raw(`GET /servers HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertShape(big, 431, 'HEADERS_TOO_LARGE');
  });

  it('bad percent-encoding, bad JSON and an oversized body: 400', async () => {
    const encoded = await raw('GET /servers/%E0%A4%A/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(encoded.status, 400);
    assert.equal(encoded.body.code, 'INVALID_REQUEST');
    const patch = (body: string) =>
      raw(
        `PATCH /servers/web-1/products/haproxy/config HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
    assertShape(await patch('{bad'), 400, 'BODY_NOT_JSON');
    assertShape(await patch(`"${'a'.repeat(70_000)}"`), 400, 'BODY_TOO_LARGE');
  });
});
