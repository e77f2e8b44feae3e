// Long operations with large but valid config (SPEC 2.1 allows 4096-byte values, and any number of
// keys): no program text and no data ever travels as one argument, where Linux caps a single
// argument at 128 KiB; and a host-side failure keeps the host's own words in the error.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import type { Journal } from '../../lib/operations/index.ts';
import { runCommand } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { bootstrapIni, createSandbox, type Sandbox } from '../support/sandbox.ts';

const sandboxes: Sandbox[] = [];
after(() => {
  for (const sandbox of sandboxes) sandbox.cleanup();
});

const KEYS = Array.from({ length: 30 }, (_, i) => `k${i}`);
/** 4096 bytes of printable text with everything a shell could trip on. */
function value(i: number): string {
  const head = `${i} it's "$(id)" \`x\` ; # = \\ é`;
  return `${head}${'v'.repeat(4096 - Buffer.byteLength(head) - 1)}!`;
}

function largeSandbox(): Sandbox {
  const sandbox = createSandbox();
  sandboxes.push(sandbox);
  const ini = bootstrapIni(sandbox.root)
    .replace('keys = maxconn, frontend_port, motd', `keys = ${KEYS.join(', ')}`)
    .replace('keys = threads, storage_path, log.level', `keys = ${KEYS.join(', ')}`);
  sandbox.writeConfig(ini);
  return sandbox;
}

for (const shell of ['/bin/sh', 'mksh']) {
  describe(`large config under ${shell}`, () => {
    it('a role whose products hold 240 KB of config provisions, each hook given every value', async () => {
      const sandbox = largeSandbox();
      const host = sandbox.host(createLocalTransport({ shell }));
      const values = Object.fromEntries(KEYS.map((key, i) => [key, value(i)]));
      for (const product of ['haproxy', 'deepfiler']) {
        const set = (await runCommand(host, { command: 'product.set', product, values })) as {
          config: Record<string, string>;
        };
        assert.deepEqual({ ...set.config }, values);
      }
      const journal = (await runCommand(host, { command: 'server.provision', role: 'edge' })) as Journal;
      assert.equal(journal.status, 'succeeded', JSON.stringify(journal.error));
      for (const product of ['haproxy', 'deepfiler']) {
        const env = readFileSync(sandbox.hookEnvFile(product, 'provision'), 'utf8');
        for (const [i, key] of KEYS.entries())
          assert.ok(env.includes(`BOOTSTRAP_CFG_${key.toUpperCase()}=${value(i)}\n`), `${product} ${key}`);
        const got = (await runCommand(host, { command: 'product.get', product })) as {
          config: Record<string, string>;
          state: Record<string, string>;
        };
        assert.deepEqual({ ...got.config }, values);
        assert.equal(got.state['status'], 'provisioned');
      }
    });
  });
}

describe('a host-side failure', () => {
  it("keeps the host's stderr in the error's details", async () => {
    const sandbox = createSandbox();
    sandboxes.push(sandbox);
    const host = sandbox.host(createLocalTransport({ env: { TMPDIR: `${sandbox.root}/no/such/dir` } }));
    const error = await runCommand(host, { command: 'server.provision', role: 'edge' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'INTERNAL');
    assert.match(String(error.details['stderr']), /mktemp/);
  });
});
