// `cloudiq-bootstrap serve` end to end over real HTTP: the README's curl commands against the
// demo fleet (in a temporary CLOUDIQ_DEMO_DIR), the CLI's own process started and stopped with
// SIGTERM, and `--inventory` over real sshd hosts.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseCli } from '../../lib/cli/args.ts';
import type { CliIo } from '../../lib/cli/io.ts';
import { type ServeHandle, startServe } from '../../lib/cli/serve.ts';
import { type CallbackReceiver, startCallbackReceiver } from '../support/callback-receiver.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import { ensureTestUser, type SshFleet, startSshFleet } from '../support/sshd.ts';

const run = promisify(execFile);

function io(env: NodeJS.ProcessEnv): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env,
    stderrIsTty: false,
    out,
    err,
  };
}

/** Runs one curl command line (as the README writes it) and returns status, headers and JSON body. */
async function curl(args: string[]) {
  const { stdout } = await run('curl', ['-s', '-i', ...args]);
  const [head = '', body = ''] = stdout.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

const json = ['-H', 'content-type: application/json'];

async function pollJson(url: string): Promise<{ status: string; [key: string]: unknown }> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const answer = await curl([url]);
    if (answer.body.status !== 'running') return answer.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} still running`);
}

describe('serve over the demo fleet', () => {
  let demoDir = '';
  let server: ServeHandle;
  let receiver: CallbackReceiver;
  let url = '';

  before(async () => {
    demoDir = mkdtempSync(join(tmpdir(), 'serve-demo-'));
    receiver = await startCallbackReceiver();
    const console = io({ ...process.env, CLOUDIQ_DEMO_DIR: demoDir });
    server = await startServe(parseCli(['serve', '--port', '0']).options, console);
    url = server.url;
    const banner = console.out.join('');
    assert.match(banner, new RegExp(`API on ${url}`));
    assert.match(
      banner,
      new RegExp(`Demo fleet: web-1, web-2, worker-1, on this machine under ${join(demoDir, 'hosts')}`),
    );
    assert.match(banner, /curl -s http:\/\/127\.0\.0\.1:\d+\/servers\n/);
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
    rmSync(demoDir, { recursive: true, force: true });
  });

  it('answers every README curl command', async () => {
    const servers = await curl([`${url}/servers`]);
    assert.equal(servers.status, 200);
    assert.deepEqual(
      servers.body.servers.map((s: { name: string }) => s.name),
      ['web-1', 'web-2', 'worker-1'],
    );
    assert.equal((await curl([`${url}/servers/web-1/heartbeat`])).body.appstack.status, 'down');
    assert.deepEqual((await curl([`${url}/servers/web-1/mode`])).body, { mode: 'maintenance' });
    assert.deepEqual(
      (await curl(['-X', 'PUT', `${url}/servers/web-1/mode`, ...json, '-d', '{"mode":"drain"}'])).body,
      {
        mode: 'drain',
      },
    );
    assert.equal((await curl([`${url}/servers/web-1/products/haproxy`])).body.product, 'haproxy');
    const patched = await curl([
      '-X',
      'PATCH',
      `${url}/servers/web-1/products/haproxy/config`,
      ...json,
      '-d',
      '{"maxconn":"4096","frontend_port":"8080"}',
    ]);
    assert.deepEqual(patched.body.config, { maxconn: '4096', frontend_port: '8080' });
    assert.deepEqual((await curl([`${url}/servers/web-1/products/haproxy?key=maxconn`])).body, {
      product: 'haproxy',
      key: 'maxconn',
      value: '4096',
    });

    const provision = await curl([
      '-X',
      'POST',
      `${url}/servers/web-1/provision`,
      ...json,
      '-d',
      JSON.stringify({ role: 'edge', callbackUrl: `${receiver.url}/hook` }),
    ]);
    assert.equal(provision.status, 202, JSON.stringify(provision.body));
    assert.equal(provision.headers['location'], `/servers/web-1/operations/${provision.body.operationId}`);
    const provisioned = await pollJson(`${url}${provision.headers['location']}`);
    assert.equal(provisioned.status, 'succeeded');
    await server.worker.idle();
    assert.equal(receiver.requests.length, 1);
    assert.equal(JSON.parse(receiver.requests[0]!.body).operationId, provision.body.operationId);

    const upgradeArgs = [
      '-X',
      'POST',
      `${url}/servers/web-1/products/deepfiler/upgrade`,
      ...json,
      '-H',
      'Idempotency-Key: upgrade-web-1-321',
      '-d',
      '{"version":"3.2.1"}',
    ];
    const upgrade = await curl(upgradeArgs);
    assert.equal(upgrade.status, 202, JSON.stringify(upgrade.body));
    assert.deepEqual(upgrade.body, { operationId: 'upgrade-web-1-321' });
    assert.equal((await pollJson(`${url}/servers/web-1/operations/upgrade-web-1-321`)).status, 'succeeded');
    assert.deepEqual((await curl(upgradeArgs)).body, { operationId: 'upgrade-web-1-321' });

    const bad = await curl([
      '-X',
      'POST',
      `${url}/servers/web-1/products/deepfiler/upgrade`,
      ...json,
      '-d',
      '{"version":"0.0.0-bad"}',
    ]);
    const failed = await pollJson(`${url}${bad.headers['location']}`);
    assert.equal(failed.status, 'failed');
    assert.equal((failed['error'] as { code: string }).code, 'HOOK_FAILED');

    const web2 = await curl([
      '-X',
      'POST',
      `${url}/servers/web-2/provision`,
      ...json,
      '-d',
      '{"role":"edge"}',
    ]);
    assert.equal((await pollJson(`${url}${web2.headers['location']}`)).status, 'succeeded');
    const fleet = await curl([
      '-X',
      'POST',
      `${url}/fleet/upgrade`,
      ...json,
      '-d',
      '{"select":"group:edge","product":"deepfiler","version":"3.2.2","maxConcurrency":2}',
    ]);
    assert.equal(fleet.status, 202, JSON.stringify(fleet.body));
    assert.equal(fleet.headers['location'], `/fleet/operations/${fleet.body.operationId}`);
    const result = await pollJson(`${url}${fleet.headers['location']}`);
    assert.equal(result.status, 'succeeded', JSON.stringify(result));
    assert.deepEqual(result['summary'], { total: 2, succeeded: 2, failed: 0, unreachable: 0, skipped: 0 });

    const party = await curl(['-X', 'PUT', `${url}/servers/web-1/mode`, ...json, '-d', '{"mode":"party"}']);
    assert.equal(party.status, 422);
    assert.equal(party.body.code, 'INVALID_MODE');
    assert.equal((await curl([`${url}/servers/web-7/heartbeat`])).status, 404);
  });

  it('refuses a body over 64 KiB without reading it all', async () => {
    const big = await fetch(`${url}/servers/web-1/products/haproxy/config`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ maxconn: 'x'.repeat(200 * 1024) }),
    });
    assert.equal(big.status, 400);
    assert.equal(((await big.json()) as { details: { reason: string } }).details.reason, 'BODY_TOO_LARGE');
  });
});

describe('serve as its own process', () => {
  it('prints its URL, serves, and stops on SIGTERM with exit code 0; a busy port is refused', async () => {
    const demoDir = mkdtempSync(join(tmpdir(), 'serve-cli-'));
    const env = { ...process.env, CLOUDIQ_DEMO_DIR: demoDir };
    const child = spawn(process.execPath, ['bin/cloudiq-bootstrap.js', 'serve', '--port', '0'], { env });
    try {
      let out = '';
      const address = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /API on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${out}`)));
      });
      const answer = await fetch(`${address}/servers/worker-1/mode`);
      assert.deepEqual(await answer.json(), { mode: 'maintenance' });
      const port = new URL(address).port;
      const busy = await run(process.execPath, ['bin/cloudiq-bootstrap.js', 'serve', '--port', port], {
        env,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      assert.equal(busy.code, 2);
      assert.match(busy.stderr, new RegExp(`port ${port} is in use`));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(demoDir, { recursive: true, force: true });
    }
  });
});

describe('serve --inventory over real sshd hosts', () => {
  let ssh: SshFleet;
  let dir = '';
  let server: ServeHandle;
  const sandboxes: Sandbox[] = [];

  before(async () => {
    const user = await ensureTestUser();
    const ids = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    const owner = { uid: Number(ids[0].stdout.trim()), gid: Number(ids[1].stdout.trim()) };
    ssh = await startSshFleet(2);
    dir = mkdtempSync(join(tmpdir(), 'serve-ssh-'));
    const sections = ssh.hosts.map((host, index) => {
      const sandbox = createSandbox(process.getuid?.() === 0 ? { owner } : {});
      sandboxes.push(sandbox);
      return `[host:edge-${index + 1}]\naddress = 127.0.0.1\nport = ${host.port}\ngroups = edge\nconfig_path = ${sandbox.configPath}\nstate_dir = ${sandbox.stateDir}\n`;
    });
    const file = join(dir, 'inventory.ini');
    writeFileSync(
      file,
      `[defaults]\ntransport = ssh\nuser = ${ssh.hosts[0]!.user}\nidentity = ${ssh.identityFile}\nknown_hosts = ${ssh.knownHostsFile}\n\n${sections.join('\n')}`,
    );
    server = await startServe(
      parseCli(['serve', '--port', '0', '--inventory', file]).options,
      io(process.env),
    );
  });
  after(async () => {
    await server?.close();
    await ssh?.stop();
    for (const sandbox of sandboxes) sandbox.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists, reads and provisions the inventory hosts over SSH', async () => {
    const servers = await curl([`${server.url}/servers`]);
    assert.deepEqual(servers.body, {
      servers: [
        { name: 'edge-1', groups: ['edge'], transport: 'ssh' },
        { name: 'edge-2', groups: ['edge'], transport: 'ssh' },
      ],
    });
    const beat = await curl([`${server.url}/servers/edge-2/heartbeat`]);
    assert.equal(beat.status, 200);
    assert.equal(beat.body.appstack.status, 'healthy');
    const started = await curl([
      '-X',
      'POST',
      `${server.url}/servers/edge-1/provision`,
      ...json,
      '-d',
      '{"role":"edge"}',
    ]);
    assert.equal(started.status, 202);
    assert.equal((await pollJson(`${server.url}${started.headers['location']}`)).status, 'succeeded');
    const fleet = await curl([
      '-X',
      'POST',
      `${server.url}/fleet/upgrade`,
      ...json,
      '-d',
      '{"select":"group:edge","product":"haproxy","version":"2.9"}',
    ]);
    const result = await pollJson(`${server.url}${fleet.headers['location']}`);
    assert.equal(result.status, 'succeeded', JSON.stringify(result));
  });
});
