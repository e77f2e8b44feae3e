import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('npm start -- --port N (the README’s first command)', () => {
  it('serves on that port, and leaves a ready inventory of the demo fleet for --inventory', async () => {
    const demoDir = mkdtempSync(join(tmpdir(), 'npm-start-'));
    const port = await freePort();
    // Its own process group, so that npm, sh and node stop together.
    const child = spawn('npm', ['start', '--', '--port', String(port)], {
      env: { ...process.env, CLOUDIQ_DEMO_DIR: demoDir },
      detached: true,
    });
    try {
      let out = '';
      const address = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`npm start exited early (${code}): ${out}`)));
      });
      assert.equal(address, `http://127.0.0.1:${port}`);
      assert.deepEqual(await (await fetch(`${address}/servers/web-1/mode`)).json(), { mode: 'maintenance' });
      const fleet = await runCli([
        '--inventory',
        join(demoDir, 'inventory.ini'),
        '--select',
        'edge',
        'server.mode',
        '--json',
      ]);
      assert.equal(fleet.code, 0, fleet.stdout + fleet.stderr);
      assert.deepEqual(
        JSON.parse(fleet.stdout).targets.map((t: { server: string; result: unknown }) => [
          t.server,
          t.result,
        ]),
        [
          ['web-1', { mode: 'maintenance' }],
          ['web-2', { mode: 'maintenance' }],
        ],
      );
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
      rmSync(demoDir, { recursive: true, force: true });
    }
  });
});
