import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { signCallbackBody } from '../lib/callback/signature.ts';

type Verified = (body: string, header: string, secret: string, toleranceSeconds?: number) => boolean;

describe('the README’s callback receiver example', () => {
  it('accepts what the sender signs, and refuses another body, secret, or an old timestamp', async () => {
    const readme = readFileSync('README.md', 'utf8');
    const snippet = /```js\n(import [\s\S]*?function verified[\s\S]*?)\n```\n/.exec(readme)?.[1];
    assert.ok(snippet, 'the README has the example');
    const dir = mkdtempSync(join(tmpdir(), 'readme-verify-'));
    try {
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, `${snippet}\nexport { verified };\n`);
      const { verified } = (await import(pathToFileURL(file).href)) as { verified: Verified };
      const body = JSON.stringify({ operationId: 'op_x', status: 'succeeded', note: 'a=b,c' });
      const now = Math.floor(Date.now() / 1000);
      const header = signCallbackBody(body, 'shh', now);
      assert.equal(verified(body, header, 'shh'), true);
      assert.equal(verified(`${body} `, header, 'shh'), false);
      assert.equal(verified(body, header, 'other'), false);
      assert.equal(verified(body, signCallbackBody(body, 'shh', now - 3600), 'shh'), false);
      assert.equal(verified(body, 't=1', 'shh'), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
