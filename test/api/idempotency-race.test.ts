// SPEC 7.1 / 2.5: the same operationId sent many times at once is one operation. Thirty
// concurrent upgrade requests with one id — through the API handler over sandbox hosts, and as
// thirty CLI command lines — run the hook once, and every one of them answers with that
// operation: none is refused as LOCKED by the runner of its own operation.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { type ApiFixture, createApiFixture } from './fixture.ts';

const RACERS = 30;

/** The upgrade hook counts its runs and takes a moment, so that the racers overlap its run. */
function countRuns(sandbox: Sandbox): () => number {
  writeFileSync(
    join(sandbox.root, 'behaviour', 'deepfiler.upgrade'),
    'echo run >> "$root/out/$name.runs"\nsleep_for=1\n',
  );
  return () => {
    try {
      return readFileSync(join(sandbox.root, 'out', 'deepfiler.upgrade.runs'), 'utf8').split('\n').length - 1;
    } catch {
      return 0;
    }
  };
}

describe('one operationId sent thirty times at once', () => {
  let api: ApiFixture;
  before(() => {
    api = createApiFixture();
  });
  after(async () => {
    await api.close();
  });

  it('API: the hook runs once and all thirty answer 202 with that operation', async () => {
    const web2 = api.sandboxes['web-2'];
    const runs = countRuns(web2);
    const answers = await Promise.all(
      Array.from({ length: RACERS }, () =>
        api.call('POST', '/servers/web-2/products/deepfiler/upgrade', {
          body: { version: '9.9.9', operationId: 'race-api-1' },
        }),
      ),
    );
    for (const answer of answers) {
      assert.equal(answer.status, 202, JSON.stringify(answer.body));
      assert.deepEqual(answer.body, { operationId: 'race-api-1' });
    }
    const journal = await api.poll('/servers/web-2/operations/race-api-1');
    assert.equal(journal.body.status, 'succeeded', JSON.stringify(journal.body));
    await api.worker.idle();
    assert.equal(runs(), 1, 'the hook ran once');
  });

  it('CLI: thirty command lines with one --operation-id all print that journal, the hook runs once', async () => {
    const sb = createSandbox();
    try {
      const runs = countRuns(sb);
      const argv = [
        '--config',
        sb.configPath,
        '--state-dir',
        sb.stateDir,
        'product.upgrade',
        'deepfiler',
        '9.9.9',
        '--operation-id',
        'race-cli-1',
        '--json',
      ];
      const results = await Promise.all(Array.from({ length: RACERS }, () => runCli(argv)));
      for (const run of results) {
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const journal = JSON.parse(run.stdout);
        assert.equal(journal.id, 'race-cli-1');
        assert.equal(journal.status, 'succeeded');
      }
      assert.equal(runs(), 1, 'the hook ran once');
    } finally {
      sb.cleanup();
    }
  });
});
