import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBootstrapConfig } from '../../lib/config/bootstrap-config.ts';
import { BootstrapError } from '../../lib/errors.ts';

const SAMPLE = `
[server]
modes = maintenance, active, drain     ; allowed modes; required
initial_mode = maintenance
provisioned_mode = active
callback_url = https://ops.example.com/hooks/bootstrap
hook_timeout = 900

[role:edge]
products = haproxy, deepfiler

[product:haproxy]
keys = maxconn, frontend_port
provision = /opt/cloudiq/haproxy/provision.sh
upgrade = /opt/cloudiq/haproxy/upgrade.sh
check = process:haproxy, tcp:127.0.0.1:8404

[product:deepfiler]
keys = threads, storage_path
provision = /opt/cloudiq/deepfiler/provision.sh
upgrade = /opt/cloudiq/deepfiler/upgrade.sh
check = systemd:deepfiler
`;

function configErrorOf(text: string): BootstrapError {
  try {
    parseBootstrapConfig(text, '/etc/b.ini');
  } catch (error) {
    assert.ok(error instanceof BootstrapError);
    assert.equal(error.code, 'CONFIG_ERROR');
    return error;
  }
  assert.fail('expected CONFIG_ERROR');
}

describe('bootstrap.ini', () => {
  it('parses the sample of SPEC 2.1', () => {
    const config = parseBootstrapConfig(SAMPLE, '/etc/b.ini');
    assert.deepEqual(config.server, {
      modes: ['maintenance', 'active', 'drain'],
      initialMode: 'maintenance',
      provisionedMode: 'active',
      callbackUrl: 'https://ops.example.com/hooks/bootstrap',
      hookTimeout: 900,
    });
    assert.deepEqual({ ...config.roles }, { edge: ['haproxy', 'deepfiler'] });
    assert.deepEqual(Object.keys(config.products), ['haproxy', 'deepfiler']);
    assert.deepEqual(config.products['haproxy']?.keys, ['maxconn', 'frontend_port']);
    assert.deepEqual(
      config.products['haproxy']?.checks.map((c) => [c.kind, c.target]),
      [
        ['process', 'haproxy'],
        ['tcp', '127.0.0.1:8404'],
      ],
    );
  });

  it('defaults initial_mode to the first mode and hook_timeout to 900', () => {
    const config = parseBootstrapConfig('[server]\nmodes = a, b\n', 'f');
    assert.equal(config.server.initialMode, 'a');
    assert.equal(config.server.provisionedMode, null);
    assert.equal(config.server.hookTimeout, 900);
  });

  const SERVER = '[server]\nmodes = a\n';
  const broken: Array<[string, string, string | null, string | null]> = [
    ['[role:x]\nproducts = a\n', 'no [server]', 'server', null],
    ['[server]\ninitial_mode = a\n', 'no modes', 'server', 'modes'],
    [`${SERVER}[role:edge]\nproducts = ghost\n`, 'role names an unknown product', 'role:edge', 'products'],
    [`${SERVER}[product:p]\ncheck = bogus:x\n`, 'bad check kind', 'product:p', 'check'],
    [`${SERVER}[product:p]\ncheck = tcp:host\n`, 'tcp without port', 'product:p', 'check'],
    [`${SERVER}[product:p]\nprovision = relative.sh\n`, 'relative hook', 'product:p', 'provision'],
    [`${SERVER}hook_timeout = soon\n`, 'bad timeout', 'server', 'hook_timeout'],
    [`${SERVER}initial_mode = b\n`, 'initial mode not allowed', 'server', 'initial_mode'],
    [`${SERVER}[product:Bad]\n`, 'bad product name', 'product:Bad', null],
    [`${SERVER}mode = a\n`, 'unknown key', 'server', 'mode'],
  ];
  for (const [text, what, section, key] of broken) {
    it(`refuses ${what} naming file, section and key`, () => {
      const error = configErrorOf(text);
      assert.deepEqual(error.details, { file: '/etc/b.ini', section, key });
      assert.match(error.message, /^\/etc\/b\.ini: /);
    });
  }

  it('names the key probably meant for an unknown one, and guesses nothing when none is near', () => {
    assert.equal(
      configErrorOf(`${SERVER}mode = a\n`).message,
      '/etc/b.ini: [server] mode: unknown key (did you mean modes?)',
    );
    assert.match(
      configErrorOf(`${SERVER}[role:r]\nproduct = p\n`).message,
      /\[role:r\] product: unknown key \(did you mean products\?\)$/,
    );
    assert.match(
      configErrorOf(`${SERVER}[product:p]\nchecks = process:x\n`).message,
      /\(did you mean check\?\)$/,
    );
    assert.match(configErrorOf(`${SERVER}colour = blue\n`).message, /colour: unknown key$/);
  });

  it('reads one file once for every host that holds it, and nobody can change that reading', () => {
    const first = parseBootstrapConfig(SAMPLE, '/etc/b.ini');
    assert.equal(parseBootstrapConfig(SAMPLE, '/etc/b.ini'), first, 'the same text is read once');
    // The reading names its file: the same text at another path is a reading of its own.
    const elsewhere = parseBootstrapConfig(SAMPLE, '/etc/other.ini');
    assert.notEqual(elsewhere, first);
    assert.equal(elsewhere.file, '/etc/other.ini');
    assert.notEqual(parseBootstrapConfig(`${SAMPLE}\n`, '/etc/b.ini'), first);
    assert.throws(() => {
      first.server.modes.push('open');
    }, TypeError);
    assert.throws(() => {
      (first.products['haproxy'] as { upgrade: string | null }).upgrade = '/tmp/x';
    }, TypeError);
    assert.equal(
      parseBootstrapConfig(SAMPLE, '/etc/b.ini').products['haproxy']?.upgrade,
      '/opt/cloudiq/haproxy/upgrade.sh',
    );
    // A file in error is refused every time it is read.
    for (let i = 0; i < 2; i++) assert.match(configErrorOf(`${SAMPLE}[bogus]\n`).message, /unknown section/);
  });
});
