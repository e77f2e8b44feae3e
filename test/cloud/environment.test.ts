// The one environment module (lib/cloud/environment.ts): each kind of variable parsed once, a bad
// value a CONFIG_ERROR naming its variable, in the functions and in `serve` alike; and, read from
// the sources' text, no other module in functions/ or lib/ reading `process.env` (but a short
// allow-list) and no variable's name spelled anywhere but there.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildRuntime } from '../../functions/composition.ts';
import { heartbeatSettings } from '../../functions/heartbeat.ts';
import { callbackOptionsFromEnv } from '../../lib/callback/index.ts';
import { parseCli } from '../../lib/cli/args.ts';
import type { CliIo } from '../../lib/cli/io.ts';
import { startServe } from '../../lib/cli/serve.ts';
import { ENV, readEnvironment, requireSetting } from '../../lib/cloud/environment.ts';
import { BootstrapError } from '../../lib/errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODULE = 'lib/cloud/environment.ts';

/** The modules that may read `process.env` themselves, and why. */
const ALLOWED: Record<string, string> = {
  'lib/cli/main.ts': "the CLI's composition root: hands the environment to every command as io.env",
  'lib/demo/demo-fleet.ts': "CLOUDIQ_DEMO_DIR, the demo fleet's folder (serve and the demo read it)",
  'lib/transport/local.ts': "a local host's program inherits this process's environment",
  'lib/transport/ssh/ssh-config.ts':
    "ssh_config's variable expansion and USER/LOGNAME, as OpenSSH reads them",
  'lib/transport/ssh/configured-endpoint.ts': "IdentityAgent's SSH_AUTH_SOCK or $VAR, as OpenSSH reads them",
  'lib/transport/ssh/identities.ts': 'SSH_AUTH_SOCK and the key passphrase variable, OpenSSH-standard',
  'lib/transport/ssh/passphrase.ts': 'the key passphrase variable (never logged)',
  'lib/transport/ssm/follow.ts': 'AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL, the AWS SDK-standard endpoint',
};

function sources(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) found.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}

/** A BootstrapError CONFIG_ERROR whose message and details name `variable`. */
function namesVariable(variable: string) {
  return (error: unknown) => {
    assert.ok(error instanceof BootstrapError, String(error));
    assert.equal(error.code, 'CONFIG_ERROR');
    assert.match(error.message, new RegExp(`^${variable}: expected `));
    assert.equal(error.details['variable'], variable);
    return true;
  };
}

describe('the environment module', () => {
  it('parses each kind: numbers, counts, URLs, flags, percentages; blank is unset', () => {
    const env = readEnvironment({
      HEARTBEAT_PERIOD_MS: ' 60000 ',
      MAP_CONCURRENCY_CAP: '8',
      HEARTBEAT_CALLBACK_URL: 'https://hooks.example.com/heartbeat',
      CALLBACK_ALLOW_PRIVATE: 'Yes',
      HEARTBEAT_DEAD_SHARE: '2.5%',
      RUNS_BUCKET: '  ',
      CALLBACK_SECRET: ' kept as given ',
    });
    assert.equal(env.heartbeatPeriodMs, 60_000);
    assert.equal(env.mapConcurrencyCap, 8);
    assert.equal(env.heartbeatCallbackUrl, 'https://hooks.example.com/heartbeat');
    assert.equal(env.callbackAllowPrivate, true);
    assert.equal(env.heartbeatDeadShare, 0.025);
    assert.equal(env.runsBucket, undefined);
    assert.equal(env.callbackSecret, ' kept as given ');
    assert.equal(readEnvironment({ CALLBACK_ALLOW_PRIVATE: 'off' }).callbackAllowPrivate, false);
    assert.equal(readEnvironment({}).callbackAllowPrivate, false);
    assert.deepEqual(heartbeatSettings(env), {
      perHostMs: 1_000,
      hostTimeoutMs: 30_000,
      deadShare: 0.025,
      periodMs: 60_000,
      hostConcurrency: 10,
      maxShards: 40,
    });
  });

  it('refuses a bad value of each kind with a CONFIG_ERROR naming the variable', () => {
    const bad: Array<[string, string]> = [
      ['HEARTBEAT_PERIOD_MS', '5m'],
      ['HEARTBEAT_HOST_COST_MS', '-3'],
      ['HEARTBEAT_HOST_TIMEOUT_MS', 'Infinity'],
      ['MAP_CONCURRENCY_CAP', '2.5'],
      ['HEARTBEAT_MAX_SHARDS', '0'],
      ['HEARTBEAT_CALLBACK_URL', 'hooks.example.com/heartbeat'],
      ['HEARTBEAT_CALLBACK_URL', 'ftp://hooks.example.com/heartbeat'],
      ['CALLBACK_ALLOW_PRIVATE', 'maybe'],
      ['HEARTBEAT_DEAD_SHARE', '150%'],
      ['HEARTBEAT_DEAD_SHARE', '0.01'],
    ];
    for (const [variable, value] of bad) {
      assert.throws(
        () => readEnvironment({ [variable]: value }),
        namesVariable(variable),
        `${variable}=${value}`,
      );
    }
  });

  it('names a variable a step needs and does not have', () => {
    assert.throws(
      () => requireSetting(readEnvironment({}), 'fleetStateMachineArn'),
      (error: unknown) =>
        error instanceof BootstrapError &&
        error.code === 'CONFIG_ERROR' &&
        error.message === 'FLEET_STATE_MACHINE_ARN is not set',
    );
  });

  it('the functions, serve and the callback options all read through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'environment-'));
    try {
      writeFileSync(join(dir, 'inventory.ini'), '[host:web-1]\ntransport = local\n');
      const inventory = `file:${join(dir, 'inventory.ini')}`;
      await assert.rejects(
        buildRuntime({ INVENTORY_SOURCE: inventory, HEARTBEAT_CONCURRENCY: 'ten' }),
        namesVariable('HEARTBEAT_CONCURRENCY'),
      );
      const rt = await buildRuntime({ INVENTORY_SOURCE: inventory, CALLBACK_ALLOW_PRIVATE: 'true' });
      assert.equal(rt.env.callbackAllowPrivate, true);
      await rt.fleet.close();
      assert.throws(
        () => callbackOptionsFromEnv({ CALLBACK_ALLOW_PRIVATE: 'sometimes' }, 'test'),
        namesVariable('CALLBACK_ALLOW_PRIVATE'),
      );
      const io: CliIo = {
        stdout: () => {},
        stderr: () => {},
        stderrIsTty: false,
        env: {
          PATH: process.env['PATH'],
          CLOUDIQ_DEMO_DIR: join(dir, 'demo'),
          CALLBACK_ALLOW_PRIVATE: 'maybe',
        },
      };
      const served = startServe(parseCli(['serve', '--port', '0']).options, io);
      await assert.rejects(served, namesVariable('CALLBACK_ALLOW_PRIVATE'));
      await served.then((handle) => handle.close()).catch(() => {});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('no environment read elsewhere', () => {
  const files = [...sources('functions'), ...sources('lib')];

  it('reads process.env only in the module and the allow-listed places', () => {
    assert.ok(files.includes(MODULE) && files.length > 100, `only ${files.length} files`);
    const readers = files.filter((file) => /\bprocess\.env\b/.test(readFileSync(join(ROOT, file), 'utf8')));
    assert.ok(readers.includes(MODULE), 'the module itself reads process.env');
    const unexpected = readers.filter((file) => file !== MODULE && !(file in ALLOWED));
    assert.deepEqual(
      unexpected,
      [],
      'read the variable through lib/cloud/environment.ts, or allow-list it with a reason',
    );
    const stale = Object.keys(ALLOWED).filter((file) => !readers.includes(file));
    assert.deepEqual(stale, [], 'allow-listed but no longer reading process.env: take it off the list');
  });

  it('spells each variable name only in the module (infra, functions and lib import ENV)', () => {
    const everywhere = [...files, ...sources('infra')].filter((file) => file !== MODULE);
    const spelled: string[] = [];
    for (const file of everywhere) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const name of Object.values(ENV)) {
        if (new RegExp(`['"]${name}['"]`).test(text)) spelled.push(`${relative('.', file)}: ${name}`);
      }
    }
    assert.deepEqual(spelled, []);
  });
});
