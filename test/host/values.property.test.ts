// Property tests: any allowed value reaches the host as data and reads back exactly; a value the
// shell could run never runs; a refused value changes nothing. And `shq`, the one quoting
// function, is checked directly against real shells.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { BootstrapError } from '../../lib/errors.ts';
import { shq } from '../../lib/host/quote.ts';
import { runCommand } from '../../lib/operations/index.ts';
import type { HostTarget } from '../../lib/operations/types.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';
import { createBusyboxDir, snapshotTree } from '../support/host-files.ts';
import { createSandbox, type Sandbox } from '../support/sandbox.ts';

/** SPEC 2.1's rule written out independently: printable UTF-8 (tab allowed), one line, ≤ 4096 bytes. */
function allowed(value: string): boolean {
  return (
    value.isWellFormed() &&
    Buffer.byteLength(value) <= 4096 &&
    !/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(value)
  );
}

describe('values round-trip through product.set / product.get and never run', () => {
  let sandbox: Sandbox;
  let host: HostTarget;
  let traps: string;
  // A host of its own for busybox: no flock there, so it uses the other lock.
  let busyboxSandbox: Sandbox;
  const busybox = createBusyboxDir();
  before(() => {
    sandbox = createSandbox();
    busyboxSandbox = createSandbox();
    host = sandbox.host();
    traps = mkdtempSync(join(tmpdir(), 'cloudiq-traps-'));
  });
  after(() => {
    sandbox.cleanup();
    busyboxSandbox.cleanup();
    rmSync(traps, { recursive: true, force: true });
    busybox.cleanup();
  });

  // Pieces a shell, an INI reader or a JSON writer could take for syntax, mixed with any text.
  const piece = () =>
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          `$(touch ${traps}/dollar)`,
          `\`touch ${traps}/backtick\``,
          `'; touch ${traps}/quote; '`,
          `"; touch ${traps}/dquote; "`,
          `\${IFS}`,
          ';',
          '#',
          '=',
          '"',
          "'",
          '\\',
          '\\n',
          ' ',
          '\t',
          '[x]',
          'true',
          'null',
          '%s%n',
          '*',
          '&&',
          '|',
          '>',
          'é',
          '日本',
          '😀',
          '\u2028',
          '\u00a0',
          '\ufeff',
        ),
      },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
      { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
    );
  const value = () =>
    fc
      .array(piece(), { maxLength: 8 })
      .map((parts) => parts.join(''))
      .filter(allowed);

  const roundTrip = (target: () => HostTarget, numRuns: number) => async () => {
    const host = target();
    await fc.assert(
      fc.asyncProperty(
        fc.record({ maxconn: value(), frontend_port: value(), motd: value() }, { requiredKeys: ['motd'] }),
        async (values) => {
          const set = (await runCommand(host, { command: 'product.set', product: 'haproxy', values })) as {
            config: Record<string, string>;
          };
          const got = (await runCommand(host, { command: 'product.get', product: 'haproxy' })) as {
            config: Record<string, string>;
          };
          assert.deepEqual(got.config, set.config);
          for (const [key, v] of Object.entries(values)) {
            assert.equal(got.config[key], v);
            assert.deepEqual(await runCommand(host, { command: 'product.get', product: 'haproxy', key }), {
              product: 'haproxy',
              key,
              value: v,
            });
          }
        },
      ),
      { numRuns },
    );
    assert.deepEqual(readdirSync(traps), [], 'a value was run as code');
  };

  it(
    'any allowed value reads back exactly, several pairs per product.set',
    roundTrip(() => host, 50),
  );

  it(
    'any allowed value reads back exactly on a busybox-only host',
    roundTrip(
      () => busyboxSandbox.host(createLocalTransport({ shell: busybox.shell, env: { PATH: busybox.dir } })),
      15,
    ),
  );

  it('values reach hooks exactly as BOOTSTRAP_CFG_* and never run', async () => {
    await fc.assert(
      fc.asyncProperty(value(), value(), async (threads, level) => {
        await runCommand(host, {
          command: 'product.set',
          product: 'deepfiler',
          values: { threads, 'log.level': level },
        });
        await runCommand(host, { command: 'product.upgrade', product: 'deepfiler', version: '1' });
        const env = spawnSync('cat', [sandbox.hookEnvFile('deepfiler', 'upgrade')], {
          encoding: 'utf8',
        }).stdout;
        assert.ok(env.split('\n').includes(`BOOTSTRAP_CFG_THREADS=${threads}`), env);
        assert.ok(env.split('\n').includes(`BOOTSTRAP_CFG_LOG_LEVEL=${level}`), env);
      }),
      { numRuns: 10 },
    );
    assert.deepEqual(readdirSync(traps), [], 'a value was run as code');
  });

  it('values with NUL, CR or LF, or over 4096 bytes, are INVALID_VALUE and change nothing', async () => {
    const bad = fc.oneof(
      fc
        .tuple(value(), fc.constantFrom('\0', '\r', '\n', '\r\n'), value())
        .map(([a, b, c]) => `${a}${b}${c}`),
      fc
        .tuple(value(), fc.integer({ min: 4097, max: 9000 }), fc.constantFrom('x', 'é', '日', '😀'))
        .map(([a, n, c]) => (a + c.repeat(n)).slice(0, n + a.length)),
    );
    await fc.assert(
      fc.asyncProperty(value(), bad, async (good, wrong) => {
        const before = snapshotTree(sandbox.stateDir);
        const error = await runCommand(host, {
          command: 'product.set',
          product: 'haproxy',
          values: { maxconn: good, motd: wrong },
        }).then(
          () => null,
          (e: unknown) => e,
        );
        assert.ok(error instanceof BootstrapError && error.code === 'INVALID_VALUE', String(error));
        assert.deepEqual(snapshotTree(sandbox.stateDir), before);
      }),
      { numRuns: 30 },
    );
  });
});

describe('shq', () => {
  /** Prints each string through `printf %s WORD` in one shell, NUL-separated, and reads them back. */
  function echoThrough(shell: string, strings: string[]): string[] {
    const [bin, ...pre] = shell.split(' ');
    const program = strings.map((s) => `printf '%s\\000' ${shq(s)}`).join('\n');
    const result = spawnSync(bin!, [...pre, '-c', program], { encoding: 'utf8', cwd: tmpdir() });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.split('\0').slice(0, -1);
  }
  const noNul = fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0') && s.isWellFormed());
  const mixed = fc.oneof(
    noNul,
    fc.string({ unit: fc.constantFrom("'", '"', '\\', '$', '`', '(', ')', '\n', ' ') }),
  );

  for (const shell of ['/usr/bin/dash', '/bin/bash', '/bin/busybox sh', 'mksh', 'ksh93', 'posh', 'yash']) {
    it(`a shell reads back exactly what shq quoted (${shell})`, () => {
      fc.assert(
        fc.property(fc.array(mixed, { minLength: 1, maxLength: 60 }), (strings) => {
          assert.deepEqual(echoThrough(shell, strings), strings);
        }),
        { numRuns: 100 },
      );
    });
  }

  it('the quoted word is one word: no expansion, no splitting, no globbing', () => {
    const tricky = ['', ' ', '*', '$HOME', '$(id)', '`id`', "'", "''", "a'b'c", 'a b', '\\', '~', '-n', '!x'];
    assert.deepEqual(echoThrough('/usr/bin/dash', tricky), tricky);
  });

  it('refuses NUL, which no shell word can carry', () => {
    assert.throws(
      () => shq('a\0b'),
      (e: unknown) => e instanceof BootstrapError && e.code === 'INVALID_VALUE',
    );
  });
});
