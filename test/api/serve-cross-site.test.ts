// `serve` on loopback against other sites in the operator's browser: a cross-site "simple"
// request (text/plain, a form) or a DNS-rebound name must not reach a route. Refused in SPEC
// 2.6's shape with INVALID_REQUEST, and nothing runs: a Host that is not this server's loopback
// name and port, an Origin that is not this server's own, a body that is not application/json.
// Same-origin requests as the console sends them, and the README's curl commands, still work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { useDemoServe } from './serve-setup.ts';

const run = promisify(execFile);

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON whose shape each test asserts
  body: any;
}

describe('serve refuses cross-site and rebound requests', () => {
  const demo = useDemoServe('serve-cross-site-');
  let own = '';

  before(() => {
    own = `127.0.0.1:${demo.server.port}`;
  });

  /** One request with exactly these headers (node:http sets Host only when not given). */
  function send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: demo.server.port, method, path, headers, setHost: false },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const versionOf = async (host: string, product: string): Promise<string | undefined> =>
    (await send('GET', `/servers/${host}/products/${product}`, { host: own })).body.state?.version;
  function assertRefused(answer: Answer, status: number, reason: string): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'details', 'message']);
    assert.equal(answer.body.code, 'INVALID_REQUEST');
    assert.equal(answer.body.details.reason, reason);
  }

  it('the audit’s request (text/plain, foreign Origin and Host) is refused and upgrades nothing', async () => {
    const before = await versionOf('web-1', 'haproxy');
    const answer = await send(
      'POST',
      '/servers/web-1/products/haproxy/upgrade',
      {
        host: `evil.example:${demo.server.port}`,
        origin: 'https://evil.example',
        'content-type': 'text/plain',
      },
      '{"version":"6.6.6"}',
    );
    assertRefused(answer, 403, 'HOST_NOT_LOCAL');
    await demo.server.worker.idle();
    assert.equal(await versionOf('web-1', 'haproxy'), before);
  });

  it('a Host that is not a loopback name with this port is refused (DNS rebinding)', async () => {
    for (const host of [
      `evil.example:${demo.server.port}`,
      '127.0.0.1',
      `127.0.0.1:${demo.server.port + 1}`,
      `10.0.0.1:${demo.server.port}`,
    ]) {
      assertRefused(await send('GET', '/servers', { host }), 403, 'HOST_NOT_LOCAL');
    }
    assertRefused(await send('GET', '/servers', {}), 403, 'HOST_NOT_LOCAL');
    for (const host of [
      own,
      `localhost:${demo.server.port}`,
      `LOCALHOST:${demo.server.port}`,
      `[::1]:${demo.server.port}`,
    ]) {
      assert.equal((await send('GET', '/servers', { host })).status, 200, host);
    }
  });

  it('an Origin other than this server’s own is refused, even with a JSON body', async () => {
    for (const origin of [
      'https://evil.example',
      'null',
      `http://evil.example:${demo.server.port}`,
      `https://${own}`,
    ]) {
      const answer = await send(
        'PUT',
        '/servers/web-1/mode',
        { host: own, origin, 'content-type': 'application/json' },
        '{"mode":"drain"}',
      );
      assertRefused(answer, 403, 'CROSS_ORIGIN');
    }
    assert.deepEqual((await send('GET', '/servers/web-1/mode', { host: own })).body, { mode: 'maintenance' });
    // The console's own origin (either loopback name) is this server's.
    for (const origin of [`http://${own}`, `http://localhost:${demo.server.port}`]) {
      const answer = await send(
        'PUT',
        '/servers/web-1/mode',
        { host: own, origin, 'content-type': 'application/json; charset=utf-8' },
        '{"mode":"drain"}',
      );
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
  });

  it('a body that is not application/json is refused (415) before any route runs', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await send(
        'POST',
        '/servers/web-2/provision',
        { host: own, 'content-type': type },
        '{"role":"edge"}',
      );
      assertRefused(answer, 415, 'NOT_JSON');
    }
    assertRefused(
      await send('PUT', '/servers/web-2/mode', { host: own }, '{"mode":"drain"}'),
      415,
      'NOT_JSON',
    );
    await demo.server.worker.idle();
    assert.deepEqual((await send('GET', '/servers/web-2/mode', { host: own })).body, { mode: 'maintenance' });
    // No body needs no type: a provision with none reaches its route (which wants a role here).
    const bare = await send('POST', '/servers/web-2/provision', { host: own });
    assert.equal(bare.status, 422, JSON.stringify(bare.body));
    assert.equal(bare.body.code, 'UNKNOWN_ROLE');
  });

  it('the README’s curl commands with a body all send the JSON type', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const lines = readme.split('\n').filter((line) => /^curl .* -d /.test(line) || /^curl .*\\$/.test(line));
    assert.ok(lines.length >= 5);
    for (const line of lines) assert.match(line, /-H "\$JSON"/, line);
    assert.match(readme, /^JSON='content-type: application\/json'$/m);
    // And curl, as the README runs it, gets through.
    const { stdout } = await run('curl', [
      '-s',
      '-X',
      'PATCH',
      `${demo.server.url}/servers/web-1/products/haproxy/config`,
      '-H',
      'content-type: application/json',
      '-d',
      '{"maxconn":"4096"}',
    ]);
    assert.equal(JSON.parse(stdout).config.maxconn, '4096');
  });
});
