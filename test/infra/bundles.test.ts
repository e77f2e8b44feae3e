/**
 * The esbuild bundles of scripts/bundle.mjs, built once into a temp dir: each loads in a fresh
 * Node.js process with a region but no credentials and no network (any socket connect fails and
 * is recorded), runs with the host's sh prelude inlined (no prelude.sh beside it), and its size is
 * reported. The API bundle answers real payload 2.0 events against a local host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FUNCTION_NAMES } from '../../infra/function.ts';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { VERSION } from '../../lib/version.ts';
import { type BundleOutput, bundle, ROOT } from '../../scripts/bundle.mjs';
import { runFreshNode } from '../support/fresh-node.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** Each function's bundle, all its files: at most 1.5 MB. */
const MAX_FUNCTION_BYTES = 1_500_000;

// Runs in the child: no socket may connect, then the bundle is imported and, given an event,
// its handler called; the answer comes back on the last line of stdout.
const LOADER = `
import net from 'node:net';
import dns from 'node:dns';
import { pathToFileURL } from 'node:url';
const attempts = [];
net.Socket.prototype.connect = function (...args) {
  attempts.push(JSON.stringify(args[0]));
  throw new Error('network access refused in this test');
};
const lookup = dns.lookup;
dns.lookup = (host, ...rest) => { attempts.push('dns:' + host); return lookup(host, ...rest); };
const [bundlePath, eventJson] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundlePath).href);
await new Promise((resolve) => setTimeout(resolve, 200));
let answer = null;
if (eventJson) {
  const context = { functionName: 'test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 25_000 };
  answer = await mod.handler(JSON.parse(eventJson), context);
}
process.stdout.write('\\n' + JSON.stringify({ exports: Object.keys(mod).sort(), handler: typeof mod.handler, attempts, answer }) + '\\n');
`;

interface LoadResult {
  exports: string[];
  handler: string;
  attempts: string[];
  answer: { statusCode: number; headers: Record<string, string>; body: string } | null;
}

describe('bundles', () => {
  let dir: string;
  let written: BundleOutput[];
  let sandbox: Sandbox;
  let inventory: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-bundles-'));
    written = await bundle({ outdir: dir });
    writeFileSync(join(dir, 'loader.mjs'), LOADER);
    sandbox = createSandbox();
    inventory = join(dir, 'inventory.ini');
    writeFileSync(
      inventory,
      `[host:local-1]\ntransport = local\nconfig_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\ngroups = demo\n`,
    );
  });
  after(() => {
    sandbox.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh Node.js with a region, no credentials, no ~/.aws, no instance metadata. */
  function load(file: string, env: Record<string, string> = {}, event?: unknown): LoadResult {
    const args = [join(dir, 'loader.mjs'), file, ...(event ? [JSON.stringify(event)] : [])];
    return runFreshNode<LoadResult>(dir, args, env);
  }

  /** A HOME of the test's own (no keys, no ssh config) and PATH. */
  const cliEnv = () => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir });

  /** The CLI at `file` answers --version (run as an executable) and a real heartbeat.get here. */
  function runsLocally(file: string): void {
    const version = spawnSync(file, ['--version'], { cwd: dir, encoding: 'utf8', env: cliEnv() });
    assert.equal(version.stdout, `cloudiq-bootstrap ${VERSION}\n`);
    const heartbeat = spawnSync(
      process.execPath,
      [file, '--config', sandbox.configPath, '--state-dir', sandbox.stateDir, 'heartbeat.get', '--json'],
      { cwd: dir, encoding: 'utf8', env: cliEnv() },
    );
    assert.equal(heartbeat.status, 0, heartbeat.stderr);
    const answer = JSON.parse(heartbeat.stdout) as Record<string, unknown>;
    assert.ok('products' in answer || 'server' in answer, heartbeat.stdout);
  }

  it('builds the CLI, which runs a real command with the prelude inlined, away from the sources', (t) => {
    const cli = written.find((w) => w.name === 'cli');
    assert.ok(cli);
    t.diagnostic(`cloudiq-bootstrap.mjs: ${(cli.bytes / 1024).toFixed(1)} KiB`);
    const text = readFileSync(cli.file, 'utf8');
    assert.ok(text.startsWith('#!/usr/bin/env node\n'));
    assert.ok(!text.includes("'./prelude.sh'"), 'the prelude is read from a file');
    assert.ok(!existsSync(join(dir, 'prelude.sh')));
    runsLocally(cli.file);
  });

  it('builds the same CLI split for the checkout: an entry without the SDK or ssh2, chunks loaded when used', (t) => {
    const cli = written.find((w) => w.name === 'cli-split');
    assert.ok(cli);
    assert.equal(cli.file, join(dir, 'cli', 'cloudiq-bootstrap.mjs'));
    t.diagnostic(
      `cli/: ${(cli.bytes / 1024).toFixed(1)} KiB in ${cli.files} files, cloudiq-bootstrap.mjs ${((cli.entryBytes ?? 0) / 1024).toFixed(1)} KiB`,
    );
    const entry = readFileSync(cli.file, 'utf8');
    // What a start parses: neither SSM's SDK nor ssh2, which only some commands load.
    assert.ok(!entry.includes('SendCommandCommand'), 'the SSM SDK is in the entry');
    assert.ok(!entry.includes('ssh-userauth'), 'ssh2 is in the entry');
    runsLocally(cli.file);
    // --host loads the SSH transport's chunk: with no key in this HOME it stops there, exit 5.
    const remote = spawnSync(
      process.execPath,
      [cli.file, 'server.mode', '--host', '127.0.0.1', '-p', '1', '--known-hosts', '/dev/null', '--json'],
      { cwd: dir, encoding: 'utf8', env: cliEnv() },
    );
    assert.equal(remote.status, 5, remote.stderr);
    const error = JSON.parse(remote.stdout) as { error: { code: string; message: string } };
    assert.equal(error.error.code, 'AUTH_FAILED', remote.stdout);
    assert.match(error.error.message, /no client key/);
  });

  for (const name of FUNCTION_NAMES) {
    const entry = join(ROOT, 'functions', `${name}.ts`);
    it(`${name}: bundled when functions/${name}.ts exists; loads with no credentials and no network`, (t) => {
      const out = written.find((w) => w.name === name);
      if (!existsSync(entry)) {
        assert.equal(out, undefined, `a bundle for ${name} without its entry`);
        t.diagnostic(`functions/${name}.ts does not exist: nothing to bundle`);
        return;
      }
      assert.ok(out, `no bundle for ${name}`);
      assert.equal(out.file, join(dir, 'functions', name, 'index.mjs'));
      t.diagnostic(
        `functions/${name}/: ${(out.bytes / 1e6).toFixed(3)} MB in ${out.files} files, index.mjs ${((out.entryBytes ?? 0) / 1e3).toFixed(0)} kB`,
      );
      // The whole asset (index.mjs and its chunks), what Lambda unzips: SPEC's target for a function.
      assert.ok(out.bytes <= MAX_FUNCTION_BYTES, `${name}: ${out.bytes} bytes > ${MAX_FUNCTION_BYTES}`);
      const text = readFileSync(out.file, 'utf8');
      assert.ok(!text.includes("'./prelude.sh'"), 'the prelude is read from a file');
      // bowser, the SDK's browser user-agent parser, is stubbed (scripts/bundle.mjs): no file holds it.
      const files = readdirSync(join(dir, 'functions', name), { recursive: true, encoding: 'utf8' });
      for (const file of files.filter((f) => f.endsWith('.mjs'))) {
        const code = readFileSync(join(dir, 'functions', name, file), 'utf8');
        assert.ok(!code.includes('Internet Explorer'), `${name}: ${file} holds bowser`);
      }
      const result = load(out.file);
      assert.equal(result.handler, 'function');
      assert.deepEqual(result.attempts, [], 'network access while loading');
    });
  }

  it('api: answers payload 2.0 events against a local host, running the inlined prelude', (t) => {
    if (!existsSync(join(ROOT, 'functions', 'api.ts'))) {
      assert.equal(
        written.find((w) => w.name === 'api'),
        undefined,
      );
      t.diagnostic('functions/api.ts does not exist yet');
      return;
    }
    const file = join(dir, 'functions', 'api', 'index.mjs');
    const env = { INVENTORY_SOURCE: `file:${inventory}` };
    const servers = load(file, env, buildHttpEvent({ method: 'GET', url: '/servers' }));
    assert.deepEqual(servers.attempts, []);
    assert.equal(servers.answer?.statusCode, 200, servers.answer?.body);
    assert.match(servers.answer?.body ?? '', /"local-1"/);
    const heartbeat = load(file, env, buildHttpEvent({ method: 'GET', url: '/servers/local-1/heartbeat' }));
    assert.deepEqual(heartbeat.attempts, []);
    assert.equal(heartbeat.answer?.statusCode, 200, heartbeat.answer?.body);
    // The console's page is its own function's: the API function carries none of its files, and
    // answers its paths as any unknown route (SPEC 2.6's 404).
    const all = readdirSync(join(dir, 'functions', 'api'), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.mjs'))
      .map((name) => readFileSync(join(dir, 'functions', 'api', name), 'utf8'))
      .join('\n');
    for (const mark of ['content-security-policy', 'rollout-view.js', '<!doctype html']) {
      assert.ok(!all.toLowerCase().includes(mark), `the api bundle carries the console (${mark})`);
    }
    const page = load(file, env, buildHttpEvent({ method: 'GET', url: '/console/app.js' }));
    assert.equal(page.answer?.statusCode, 404, page.answer?.body);
  });
});
