import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
// @ts-expect-error: plain JavaScript beside the bin script, without declarations
import { freshBundle } from '../../bin/fresh-bundle.js';

const fresh = freshBundle as (root: string) => string | null;
const HOUR = 3600;
const now = Math.floor(Date.now() / 1000);

/** Sets a file's mtime to `now + offset` seconds. */
function age(path: string, offset: number): void {
  utimesSync(path, now + offset, now + offset);
}

describe('the checkout CLI runs its bundle only while it is current', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fresh-bundle-'));
    mkdirSync(join(root, 'lib', 'cli'), { recursive: true });
    mkdirSync(join(root, 'lib', 'host'), { recursive: true });
    mkdirSync(join(root, 'scripts'));
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    for (const file of [
      'lib/cli/main.ts',
      'lib/host/prelude.sh',
      'scripts/bundle.mjs',
      'package.json',
      'package-lock.json',
    ])
      writeFileSync(join(root, file), '');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const settle = () => {
    for (const path of [
      'lib/cli/main.ts',
      'lib/host/prelude.sh',
      'lib/cli',
      'lib/host',
      'lib',
      'scripts/bundle.mjs',
      'scripts',
      'package.json',
      'package-lock.json',
    ])
      age(join(root, path), -2 * HOUR);
  };

  it('is null without a bundle, the bundle when it is newer than every input, null when any input is newer', () => {
    settle();
    assert.equal(fresh(root), null);
    const bundle = join(root, 'dist', 'cli', 'cloudiq-bootstrap.mjs');
    writeFileSync(bundle, '');
    age(bundle, -HOUR);
    assert.equal(fresh(root), bundle);
    for (const input of [
      'lib/host/prelude.sh',
      'lib/cli/main.ts',
      'scripts/bundle.mjs',
      'package-lock.json',
      'package.json',
    ]) {
      age(join(root, input), 0);
      assert.equal(fresh(root), null, `${input} is newer`);
      age(join(root, input), -2 * HOUR);
      assert.equal(fresh(root), bundle);
    }
    // A deleted source leaves only its directory's mtime behind.
    unlinkSync(join(root, 'lib/host/prelude.sh'));
    assert.equal(fresh(root), null);
  });
});

describe('bin/cloudiq-bootstrap.js in a checkout', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'fresh-bin-'));
    for (const path of ['bin', 'lib', 'scripts/bundle.mjs', 'package.json', 'package-lock.json'])
      cpSync(resolve(path), join(root, path), { recursive: true });
    symlinkSync(resolve('node_modules'), join(root, 'node_modules'));
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const run = () =>
    execFileSync(process.execPath, [join(root, 'bin', 'cloudiq-bootstrap.js'), '--version'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });

  it('runs a current bundle, and the sources as soon as one of them is newer than it', () => {
    const bundle = join(root, 'dist', 'cli', 'cloudiq-bootstrap.mjs');
    writeFileSync(bundle, "process.stdout.write('the bundle ran\\n');\n");
    age(bundle, HOUR);
    assert.equal(run(), 'the bundle ran\n');
    // An edit after the build: the stale bundle must not run.
    age(join(root, 'lib', 'cli', 'help.ts'), 2 * HOUR);
    assert.equal(run(), 'cloudiq-bootstrap 0.1.0\n');
  });
});
