// SSM failures as an operator reads them, through the CLI and the real SSMClient against the
// loopback SSM endpoint: an endpoint answering an HTML page (a proxy, a portal, a wrong URL) is
// UNREACHABLE saying which endpoint answered what and what to check, and is not retried; no AWS
// region is CONFIG_ERROR before any call; and the SDK's Node-version notice never reaches the
// terminal while every other warning still does.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/cli.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';
import {
  type SsmTestServer,
  startSsmServer,
  testInstanceId,
  useSsmServerInEnv,
} from '../support/ssm-server.ts';

const REGION_VARIABLES = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE'];

describe('SSM failures read as what happened and what to do', () => {
  let ssm: SsmTestServer;
  let sb: Sandbox;
  let dir: string;
  const instanceId = testInstanceId(31);
  let restoreEnv: () => void;

  before(async () => {
    ssm = await startSsmServer({ region: 'eu-west-1' });
    ssm.addInstance(instanceId);
    sb = createSandbox();
    dir = mkdtempSync(join(tmpdir(), 'cloudiq-ssmfail-'));
    restoreEnv = useSsmServerInEnv(ssm);
  });
  after(async () => {
    restoreEnv();
    await ssm.close();
    sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const argv = (...rest: string[]) => [
    '--ssm',
    instanceId,
    '--config',
    sb.configPath,
    '--state-dir',
    sb.stateDir,
    '--json',
    ...rest,
  ];

  function assertReadable(message: string, status: number): void {
    assert.match(message, new RegExp(`answered HTTP ${status}`), message);
    assert.match(message, /text\/html/, message);
    assert.ok(message.includes(ssm.endpoint), `names the endpoint: ${message}`);
    assert.match(message, /AWS_ENDPOINT_URL_SSM/, message);
    assert.doesNotMatch(message, /Deserialization error|\$response|hidden field/, message);
  }

  for (const status of [200, 403, 502]) {
    it(`an endpoint answering HTML (HTTP ${status}) to SendCommand is UNREACHABLE, named and explained`, async () => {
      ssm.htmlAnswer = { status };
      try {
        const run = await runCli(argv('heartbeat.get'));
        assert.equal(run.code, 5, run.stdout + run.stderr);
        const error = JSON.parse(run.stdout).error;
        assert.equal(error.code, 'UNREACHABLE');
        assertReadable(error.message, status);
        assert.equal(error.details.reason, 'not-ssm');
      } finally {
        ssm.htmlAnswer = undefined;
      }
    });
  }

  it('an endpoint named with a user and password is named without them', async () => {
    const saved = process.env['AWS_ENDPOINT_URL_SSM'];
    const withPassword = new URL(ssm.endpoint);
    withPassword.username = 'proxyuser';
    withPassword.password = 'S3cr3tPass';
    process.env['AWS_ENDPOINT_URL_SSM'] = withPassword.toString();
    ssm.htmlAnswer = { status: 200 };
    try {
      const run = await runCli(argv('heartbeat.get'));
      assert.equal(run.code, 5, run.stdout + run.stderr);
      assert.doesNotMatch(run.stdout + run.stderr, /S3cr3tPass|proxyuser/);
      assert.match(JSON.parse(run.stdout).error.message, /answered HTTP 200/);
    } finally {
      ssm.htmlAnswer = undefined;
      process.env['AWS_ENDPOINT_URL_SSM'] = saved;
    }
  });

  it('HTML to ListCommandInvocations is not retried: one call, then the clear error', async () => {
    ssm.htmlAnswer = { status: 200, actions: ['ListCommandInvocations'] };
    const before = ssm.htmlAnswered['ListCommandInvocations'] ?? 0;
    try {
      const run = await runCli(argv('heartbeat.get'));
      assert.equal(run.code, 5, run.stdout + run.stderr);
      const error = JSON.parse(run.stdout).error;
      assert.equal(error.code, 'UNREACHABLE');
      assertReadable(error.message, 200);
      assert.equal((ssm.htmlAnswered['ListCommandInvocations'] ?? 0) - before, 1, 'asked once');
    } finally {
      ssm.htmlAnswer = undefined;
    }
  });

  it('no AWS region is CONFIG_ERROR before any call, on one server and in a fleet', async () => {
    const env = { ...process.env };
    for (const name of REGION_VARIABLES) delete process.env[name];
    process.env['AWS_CONFIG_FILE'] = join(dir, 'no-such-aws-config');
    const calls = JSON.stringify(ssm.calls);
    try {
      const single = await runCli(argv('heartbeat.get'));
      assert.equal(single.code, 6, single.stdout + single.stderr);
      const error = JSON.parse(single.stdout).error;
      assert.equal(error.code, 'CONFIG_ERROR');
      assert.match(error.message, /^no AWS region: set AWS_REGION or --region/);

      const inventory = join(dir, 'inventory.ini');
      writeFileSync(
        inventory,
        `[host:managed]\ntransport = ssm\ninstance_id = ${instanceId}\nconfig_path = ${sb.configPath}\nstate_dir = ${sb.stateDir}\n`,
      );
      const fleet = await runCli(['--inventory', inventory, '--select', 'all', 'heartbeat.get', '--json']);
      assert.equal(fleet.code, 4, fleet.stdout + fleet.stderr);
      const target = JSON.parse(fleet.stdout).targets[0];
      assert.equal(target.error.code, 'CONFIG_ERROR');
      assert.match(
        target.error.message,
        /no AWS region for managed: set region = in its \[host:managed\] section/,
      );
      assert.equal(JSON.stringify(ssm.calls), calls, 'no SSM call was made');
    } finally {
      Object.assign(process.env, env);
    }
  });

  it('the CLI prints no AWS SDK Node-version notice on stderr, and other warnings still show', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['NODE_NO_WARNINGS'];
    delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
    const canary = 'data:text/javascript,process.emitWarning("canary-warning")';
    // Not spawnSync: the loopback SSM endpoint answers from this process's event loop.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      execFile(
        process.execPath,
        ['--import', canary, resolve('bin/cloudiq-bootstrap.js'), ...argv('heartbeat.get')],
        { encoding: 'utf8', env, timeout: 120_000 },
        (error, stdout, stderr) => done({ status: error ? (error.code as number) : 0, stdout, stderr }),
      );
    });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(JSON.parse(run.stdout).mode, 'maintenance');
    assert.doesNotMatch(run.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript|node >=22/, run.stderr);
    assert.match(run.stderr, /canary-warning/, 'other warnings are not hidden');
  });
});
