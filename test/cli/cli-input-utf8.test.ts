// SPEC 2.1: a value is one line of printable UTF-8; anything else is INVALID_VALUE. Node decodes
// its command line lossily (an invalid byte becomes U+FFFD), so the CLI reads the raw bytes
// (/proc/self/cmdline on Linux) and refuses an argument that is not valid UTF-8 instead of
// storing it changed: INVALID_VALUE for the VALUE of product.set's KEY=VALUE, INVALID_REQUEST for
// any other argument, naming it, exit 2, nothing written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../lib/cli/main.ts';
import { rawArguments } from '../../lib/cli/raw-argv.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'cloudiq-bootstrap.js');
const onLinux = existsSync('/proc/self/cmdline');

/**
 * Runs the real CLI with `words`, each a shell word in which `printf` escapes (`\377`) stand for
 * raw bytes: node cannot pass bytes that are not UTF-8 to a child, `sh` can.
 */
function cliBytes(sb: Sandbox, words: string[], nodeFlags: string[] = []) {
  const quote = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;
  const quoted = words
    .map((word) => (word.includes('\\') ? `"$(printf ${quote(word)})"` : quote(word)))
    .join(' ');
  const script = `exec "${process.execPath}" ${nodeFlags.join(' ')} "${BIN}" ${quoted}`;
  const run = spawnSync('/bin/sh', ['-c', script], {
    env: {
      ...process.env,
      BOOTSTRAP_CONFIG: sb.configPath,
      BOOTSTRAP_STATE_DIR: sb.stateDir,
      NODE_NO_WARNINGS: '1',
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const errorOf = (run: { stdout: string }) =>
  (JSON.parse(run.stdout) as { error: { code: string; message: string; details: Record<string, unknown> } })
    .error;

describe('arguments that are not valid UTF-8, from a real command line', { skip: !onLinux }, () => {
  let sb: Sandbox;
  afterEach(() => sb?.cleanup());
  const productFile = () => join(sb.stateDir, 'products', 'deepfiler.ini');

  it("product.set's value: INVALID_VALUE naming the key, nothing stored", () => {
    sb = createSandbox();
    const run = cliBytes(sb, ['product.set', 'deepfiler', 'threads=a\\377b', '--json']);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    const error = errorOf(run);
    assert.equal(error.code, 'INVALID_VALUE');
    assert.match(error.message, /deepfiler\.threads/);
    assert.match(error.message, /UTF-8/);
    assert.equal(error.details['key'], 'threads');
    assert.equal(error.details['product'], 'deepfiler');
    assert.equal(error.details['argument'], 3);
    assert.equal(existsSync(productFile()), false, 'nothing written');
  });

  it('with node flags before the script, and the bad pair among good ones', () => {
    sb = createSandbox();
    const run = cliBytes(
      sb,
      ['--json', 'product.set', 'deepfiler', 'storage_path=/x', 'threads=\\300\\257', 'log.level=info'],
      ['--no-warnings', '--stack-size=2000'],
    );
    assert.equal(run.code, 2, run.stdout + run.stderr);
    const error = errorOf(run);
    assert.equal(error.code, 'INVALID_VALUE');
    assert.equal(error.details['key'], 'threads');
    assert.equal(error.details['argument'], 5);
    assert.equal(existsSync(productFile()), false, 'none of the pairs written');
  });

  it('other arguments: INVALID_REQUEST naming the argument (the product, a key, an option value)', () => {
    sb = createSandbox();
    const product = cliBytes(sb, ['product.set', 'deep\\377filer', 'threads=7', '--json']);
    assert.equal(product.code, 2, product.stdout + product.stderr);
    assert.equal(errorOf(product).code, 'INVALID_REQUEST');
    assert.equal(errorOf(product).details['argument'], 2);
    assert.match(errorOf(product).message, /argument 2/);

    const key = cliBytes(sb, ['product.set', 'deepfiler', 'thr\\377eads=7', '--json']);
    assert.equal(key.code, 2);
    assert.equal(errorOf(key).code, 'INVALID_REQUEST');
    assert.equal(errorOf(key).details['argument'], 3);

    const mode = cliBytes(sb, ['server.mode', 'act\\377ive', '--json']);
    assert.equal(errorOf(mode).code, 'INVALID_REQUEST');
    assert.equal(existsSync(join(sb.stateDir, 'server.ini')), false);

    const option = cliBytes(sb, ['server.mode', '--callback', 'http://127.0.0.1/\\377', 'drain', '--json']);
    assert.equal(option.code, 2);
    assert.equal(errorOf(option).code, 'INVALID_REQUEST');
    assert.equal(errorOf(option).details['option'], '--callback');
    assert.equal(errorOf(option).details['argument'], 3);
    assert.equal(existsSync(join(sb.stateDir, 'server.ini')), false);
  });

  it('the human output says it on stderr', () => {
    sb = createSandbox();
    const run = cliBytes(sb, ['product.set', 'deepfiler', 'threads=a\\377b']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: INVALID_VALUE: value for deepfiler\.threads is not valid UTF-8/);
  });

  it('valid UTF-8, U+FFFD itself included, is stored exactly', () => {
    sb = createSandbox();
    const run = cliBytes(sb, ['product.set', 'deepfiler', 'threads=a\\357\\277\\275b \\303\\251', '--json']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(JSON.parse(run.stdout).config.threads, 'a\uFFFDb é');
    assert.match(readFileSync(productFile(), 'utf8'), /a\uFFFDb é/);
  });
});

describe('rawArguments: the raw bytes of argv, aligned from the end of the command line', () => {
  const cmdline = (...words: (string | Buffer)[]) =>
    Buffer.concat(words.flatMap((w) => [Buffer.isBuffer(w) ? w : Buffer.from(w), Buffer.from([0])]));
  const bad = Buffer.from([0x61, 0xff, 0x62]);

  it('skips node, its flags and the script', () => {
    const raw = rawArguments(
      ['product.set', 'p', 'k=a\uFFFDb', ''],
      cmdline(
        'node',
        '--import',
        'tsx',
        '/x/bin/cli.js',
        'product.set',
        'p',
        Buffer.from([0x6b, 0x3d, ...bad]),
        '',
      ),
    );
    assert.ok(raw);
    assert.equal(raw.length, 4);
    assert.deepEqual(raw[2], Buffer.from([0x6b, 0x3d, ...bad]));
    assert.deepEqual(raw[3], Buffer.alloc(0));
  });

  it('null when it cannot tell: no command line, too short, or not the same arguments', () => {
    assert.equal(rawArguments(['a'], null), null);
    assert.equal(rawArguments(['a', 'b'], cmdline('b')), null);
    assert.equal(rawArguments(['a', 'b'], cmdline('node', 'x', 'c')), null, 'a valid entry that differs');
    assert.equal(
      rawArguments(['a', 'b'], cmdline('node', 'a', bad)),
      null,
      'an invalid entry for a clean one',
    );
    assert.deepEqual(rawArguments([], cmdline('node', 'script')), []);
  });
});

describe('the CLI with raw arguments given (any platform)', () => {
  const run = async (argv: string[], raw: (Buffer | string)[] | null) => {
    let stdout = '';
    const code = await main(argv, {
      stdout: (text) => {
        stdout += text;
      },
      stderr: () => {},
      env: process.env,
      stderrIsTty: false,
      rawArguments: () => raw?.map((w) => (Buffer.isBuffer(w) ? w : Buffer.from(w))) ?? null,
    });
    return { code, stdout };
  };

  it('refuses with INVALID_VALUE before reaching any host (an option terminator and an inline value)', async () => {
    const argv = [
      '--config=/nowhere/bootstrap.ini',
      'product.set',
      '--json',
      '--',
      'deepfiler',
      'threads=\uFFFD',
    ];
    const raw = [...argv.slice(0, 5), Buffer.from([0x74, 0x68, 0x72, 0x65, 0x61, 0x64, 0x73, 0x3d, 0xc0])];
    const answer = await run(argv, raw);
    assert.equal(answer.code, 2);
    assert.equal(errorOf(answer).code, 'INVALID_VALUE', answer.stdout);
    assert.equal(errorOf(answer).details['argument'], 6);

    const inline = ['--config=/x\uFFFD', 'product.get', 'deepfiler', '--json'];
    const refused = await run(inline, [
      Buffer.from([...Buffer.from('--config=/x'), 0xff]),
      ...inline.slice(1),
    ]);
    assert.equal(errorOf(refused).code, 'INVALID_REQUEST');
    assert.equal(errorOf(refused).details['option'], '--config');
  });

  it('without raw arguments, goes on as before', async () => {
    const answer = await run(['--config', '/nowhere/x.ini', 'product.get', 'deepfiler', '--json'], null);
    assert.equal(errorOf(answer).code, 'CONFIG_ERROR');
  });
});
