// SPEC 7.1: "a named stage's prefix in the path is not part of the route". An HTTP API on a named
// stage (`prod`) hands the handler `/prod/servers`; `$default` (and a custom domain's mapping)
// hand it `/servers`. Payload 2.0 events as API Gateway builds them, against real sandbox hosts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildHttpEvent, type HttpResult } from '../../lib/api/http.ts';
import { type ApiFixture, createApiFixture } from './fixture.ts';

describe('API on a named stage', () => {
  let api: ApiFixture;
  before(() => {
    api = createApiFixture();
  });
  after(() => api.close());

  const call = async (stage: string, method: string, url: string, body?: unknown): Promise<HttpResult> => {
    const event = buildHttpEvent({
      method,
      url,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    event.requestContext.stage = stage;
    return api.handler(event);
  };

  it('routes /prod/servers as /servers, and /prod alone as /', async () => {
    const plain = await call('$default', 'GET', '/servers');
    const staged = await call('prod', 'GET', '/prod/servers');
    assert.equal(staged.statusCode, 200);
    assert.deepEqual(JSON.parse(staged.body), JSON.parse(plain.body));
    // A custom domain's mapping has already taken the stage off.
    assert.equal((await call('prod', 'GET', '/servers')).statusCode, 200);
    assert.equal(
      (await call('prod', 'GET', '/prod')).statusCode,
      (await call('$default', 'GET', '/')).statusCode,
    );
  });

  it('takes no prefix off on $default, nor one that only starts like the stage', async () => {
    assert.equal((await call('$default', 'GET', '/prod/servers')).statusCode, 404);
    assert.equal((await call('prod', 'GET', '/production/servers')).statusCode, 404);
  });

  it("a 202's Location keeps the stage, and the operation is read back through it", async () => {
    const accepted = await call('prod', 'POST', '/prod/servers/web-1/provision', { role: 'edge' });
    assert.equal(accepted.statusCode, 202);
    const location = accepted.headers['location'] ?? '';
    assert.match(location, /^\/prod\/servers\/web-1\/operations\/op_/);
    for (let attempt = 0; attempt < 600; attempt++) {
      const answer = await call('prod', 'GET', location);
      assert.equal(answer.statusCode, 200);
      if (JSON.parse(answer.body).status !== 'running') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail('the operation still runs after 30 s');
  });
});
