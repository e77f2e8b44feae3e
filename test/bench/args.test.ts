import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BenchArgsError, parseBenchArgs, parseDuration, SECTIONS, USAGE } from '../../bench/args.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function run(argv: string[]) {
  const parsed = parseBenchArgs(argv);
  assert.equal(parsed.kind, 'run');
  return parsed.kind === 'run' ? parsed.args : assert.fail('not a run');
}

describe('bench arguments', () => {
  it('asks for the usage on --help and -h, whatever else is given', () => {
    assert.deepEqual(parseBenchArgs(['--help']), { kind: 'help', usage: USAGE });
    assert.deepEqual(parseBenchArgs(['--quick', '-h']), { kind: 'help', usage: USAGE });
  });

  it('refuses unknown options, unknown sections and tools, and missing values with one line', () => {
    for (const argv of [
      ['--bogus'],
      ['--only', 'heartbeat,nothing'],
      ['--tools', 'clush'],
      ['--hosts'],
      ['--hosts', '--quick'],
      ['--reps', '0'],
      ['--rtt', 'fast'],
      ['--hosts-per-sshd', '16'],
      ['--out'],
    ]) {
      assert.throws(
        () => parseBenchArgs(argv),
        (error: unknown) => error instanceof BenchArgsError && !error.message.includes('\n'),
        argv.join(' '),
      );
    }
  });

  it('reads RTTs in ms or s, and 0 or off leaves the latency pass out', () => {
    assert.equal(parseDuration('50ms', '--rtt'), 50);
    assert.equal(parseDuration('0.05s', '--rtt'), 50);
    assert.equal(parseDuration('20', '--rtt'), 20);
    assert.equal(run(['--rtt', '80ms']).rttMs, 80);
    assert.equal(run([]).sections.has('rtt'), true);
    assert.equal(run(['--rtt', 'off']).sections.has('rtt'), false);
    assert.equal(run(['--rtt', '0']).sections.has('rtt'), false);
  });

  it('measures everything by default; --quick is small unless told otherwise', () => {
    const full = run([]);
    assert.deepEqual([...full.sections], [...SECTIONS]);
    assert.deepEqual(full.hosts, [50, 200]);
    assert.equal(full.rttMs, 50);
    assert.deepEqual(full.ssmFanouts, [64, 0]);
    const quick = run(['--quick']);
    assert.deepEqual(quick.hosts, [20]);
    assert.deepEqual(quick.fanouts, [32]);
    assert.equal(quick.reps, 1);
    assert.deepEqual(run(['--quick', '--hosts', '200,50,50', '--reps', '2']).hosts, [50, 200]);
    assert.equal(run(['--quick', '--reps', '2']).reps, 2);
  });

  it('npm run bench -- --help exits 0 with the usage; an unknown flag exits 2 with one line', () => {
    const help = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--help'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(help.status, 0, help.stderr);
    assert.equal(help.stdout.trim(), USAGE);
    assert.equal(help.stderr, '');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--frobnicate'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^bench: unknown option --frobnicate \(npm run bench -- --help\)\n$/);
  });
});
