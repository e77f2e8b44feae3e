// What a Lambda cold start loads: each function's bundle (scripts/bundle.mjs, built into a temp
// dir) is imported in a fresh Node.js whose module loader records every file it loads (a
// `module.register` hook). Module init loads index.mjs and its shared chunks only — no AWS SDK,
// no Powertools, no ssh2 — and an invocation against a fleet without SSH hosts never loads ssh2;
// one against a real sshd host loads it and answers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildHttpEvent } from '../../lib/api/http.ts';
import { type BundleOutput, bundle } from '../../scripts/bundle.mjs';
import { runFreshNode } from '../support/fresh-node.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshFleet, startSshFleet } from '../support/sshd.ts';

const run = promisify(execFile);

// Preloaded with --import: every module the loader loads is posted back to the main thread.
const RECORD = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
globalThis.loadedUrls = [];
port1.on('message', (url) => globalThis.loadedUrls.push(url));
port1.unref();
register('./hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
`;
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) { port.postMessage(url); return next(url, context); }
`;
const LOADER = `
import { pathToFileURL } from 'node:url';
const [bundlePath, eventJson] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundlePath).href);
await new Promise((resolve) => setTimeout(resolve, 100));
const atInit = [...globalThis.loadedUrls];
let answer = null;
if (eventJson) answer = await mod.handler(JSON.parse(eventJson), { awsRequestId: 'req-1' });
await new Promise((resolve) => setTimeout(resolve, 100));
process.stdout.write('\\n' + JSON.stringify({ atInit, afterInvoke: globalThis.loadedUrls, answer }) + '\\n');
process.exit(0);
`;

interface Loaded {
  atInit: string[];
  afterInvoke: string[];
  answer: { statusCode: number; body: string } | null;
}

describe('a cold start loads what it needs, when it needs it', () => {
  let dir = '';
  let written: BundleOutput[] = [];
  let sandbox: Sandbox;
  let ssh: SshFleet | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cold-start-'));
    written = await bundle({ outdir: dir, cli: false });
    writeFileSync(join(dir, 'record.mjs'), RECORD);
    writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(join(dir, 'loader.mjs'), LOADER);
    sandbox = createSandbox();
  });
  after(async () => {
    sandbox.cleanup();
    await ssh?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The chunks of a function whose text carries `marker`. */
  function chunksWith(name: string, marker: string): string[] {
    const chunks = join(dir, 'functions', name, 'chunks');
    return readdirSync(chunks).filter((file) => readFileSync(join(chunks, file), 'utf8').includes(marker));
  }

  /** The loaded files of the bundle (index.mjs included) whose text carries `marker`. */
  function carrying(urls: string[], marker: string): string[] {
    return urls
      .filter((url) => url.startsWith(pathToFileURL(dir).href))
      .filter((url) => readFileSync(fileURLToPath(url), 'utf8').includes(marker))
      .map((url) => url.slice(url.lastIndexOf('/') + 1));
  }

  function load(name: string, env: Record<string, string>, event?: unknown): Loaded {
    const bundle = join(dir, 'functions', name, 'index.mjs');
    const args = ['--import', join(dir, 'record.mjs'), join(dir, 'loader.mjs'), bundle];
    return runFreshNode<Loaded>(
      dir,
      event === undefined ? args : [...args, JSON.stringify(event)],
      env,
      90_000,
    );
  }

  it('builds each function as index.mjs with chunks beside it, ssh2 and the SDK in chunks of their own', () => {
    for (const out of written) {
      assert.equal(out.file, join(dir, 'functions', out.name, 'index.mjs'));
      const entry = readFileSync(out.file, 'utf8');
      assert.ok(!entry.includes('SSH-2.0-ssh2js'), `${out.name}: ssh2 in index.mjs`);
      assert.ok(!entry.includes('AWS_ENDPOINT_URL'), `${out.name}: the AWS SDK in index.mjs`);
      // The console's page reaches nothing: no ssh2, no SDK, so nothing to load later either.
      if (out.name === 'console') assert.equal(out.files, 1, 'console: more than index.mjs');
      else assert.ok(chunksWith(out.name, 'SSH-2.0-ssh2js').length > 0, `${out.name}: no ssh2 chunk`);
    }
  });

  for (const name of ['api', 'worker', 'heartbeat', 'batch-upgrade', 'console']) {
    it(`${name}: module init loads neither ssh2 nor the AWS SDK nor Powertools`, () => {
      const loaded = load(name, {});
      const files = loaded.atInit.filter((url) => url.includes(`/functions/${name}/`));
      assert.ok(
        files.some((url) => url.endsWith('/index.mjs')),
        JSON.stringify(loaded.atInit),
      );
      assert.deepEqual(carrying(loaded.atInit, 'SSH-2.0-ssh2js'), [], 'ssh2 loaded at init');
      assert.deepEqual(carrying(loaded.atInit, 'AWS_ENDPOINT_URL'), [], 'the SDK loaded at init');
      assert.deepEqual(carrying(loaded.atInit, 'POWERTOOLS_LOG_LEVEL'), [], 'Powertools loaded at init');
    });
  }

  it('api: a fleet without SSH hosts answers without ever loading ssh2', () => {
    const inventory = join(dir, 'local.ini');
    writeFileSync(
      inventory,
      `[host:local-1]\ntransport = local\nconfig_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\n`,
    );
    const loaded = load(
      'api',
      { INVENTORY_SOURCE: `file:${inventory}` },
      buildHttpEvent({ method: 'GET', url: '/servers/local-1/heartbeat' }),
    );
    assert.equal(loaded.answer?.statusCode, 200, loaded.answer?.body);
    assert.deepEqual(
      carrying(loaded.afterInvoke, 'SSH-2.0-ssh2js'),
      [],
      'ssh2 loaded for a fleet with no SSH host',
    );
  });

  it('api: a fleet with an SSH host loads ssh2 on first use and reads the host over real sshd', async () => {
    const user = await ensureTestUser();
    const ids = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    const owner = { uid: Number(ids[0].stdout.trim()), gid: Number(ids[1].stdout.trim()) };
    ssh = await startSshFleet(1);
    const host = ssh.hosts[0]!;
    const remote = createSandbox(process.getuid?.() === 0 ? { owner } : {});
    try {
      const inventory = join(dir, 'ssh.ini');
      writeFileSync(
        inventory,
        `[host:edge-1]\ntransport = ssh\naddress = 127.0.0.1\nport = ${host.port}\nuser = ${host.user}\n` +
          `identity = ${ssh.identityFile}\nknown_hosts = ${ssh.knownHostsFile}\n` +
          `config_path = ${remote.configPath}\nstate_dir = ${remote.stateDir}\n`,
      );
      const event = buildHttpEvent({ method: 'GET', url: '/servers/edge-1/heartbeat' });
      const loaded = load('api', { INVENTORY_SOURCE: `file:${inventory}` }, event);
      assert.equal(loaded.answer?.statusCode, 200, loaded.answer?.body);
      assert.match(loaded.answer?.body ?? '', /"products"/);
      assert.deepEqual(carrying(loaded.atInit, 'SSH-2.0-ssh2js'), [], 'ssh2 loaded at init');
      assert.ok(
        carrying(loaded.afterInvoke, 'SSH-2.0-ssh2js').length > 0,
        'ssh2 never loaded, yet the host answered',
      );
    } finally {
      remote.cleanup();
    }
  });
});
