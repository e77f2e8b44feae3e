// SPEC 3.1 (v2): "a source that cannot be listed is CONFIG_ERROR naming the source" — also one
// whose endpoint accepts the connection and never answers (a VPC with no route to EC2, a proxy
// gone quiet). The AWS SDK's own defaults wait for ever; every client of the tool is given
// timeouts (lib/transport/aws-http.ts). Through the CLI, against a loopback listener that never speaks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';

describe('a dynamic source whose endpoint never answers', () => {
  const held: Socket[] = [];
  const server = createServer((socket) => held.push(socket));
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-silent-'));
  const saved: Record<string, string | undefined> = {};
  const env = (name: string, value: string) => {
    if (!(name in saved)) saved[name] = process.env[name];
    process.env[name] = value;
  };

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    env('AWS_ENDPOINT_URL_EC2', `http://127.0.0.1:${port}`);
    env('AWS_ACCESS_KEY_ID', 'AKIDSILENT');
    env('AWS_SECRET_ACCESS_KEY', 'silent');
    env('AWS_REGION', 'eu-west-1');
    // One attempt: the test waits for one request's timeout, not for the SDK's retries too.
    env('AWS_MAX_ATTEMPTS', '1');
  });
  after(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is CONFIG_ERROR naming the source once the request times out, not a run that never ends', {
    timeout: 90_000,
  }, async () => {
    const inventory = join(dir, 'inventory.ini');
    writeFileSync(inventory, '[source:prod]\nkind = ec2\nregion = eu-west-1\nfilters = tag:Fleet=cloudiq\n');
    const run = await runCli(['--inventory', inventory, '--select', 'all', 'heartbeat.get', '--json']);
    assert.equal(run.code, 6, run.stdout + run.stderr);
    const error = JSON.parse(run.stdout).error;
    assert.equal(error.code, 'CONFIG_ERROR');
    assert.equal(error.details.section, 'source:prod');
    assert.match(error.message, /cannot be listed/);
    assert.ok(held.length >= 1, 'the request reached the silent endpoint');
  });
});
