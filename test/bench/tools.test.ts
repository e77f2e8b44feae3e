import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseStraceSummary } from '../../bench/forks.ts';
import { findMissingTools } from '../../bench/tools.ts';

describe('bench tools', () => {
  it('names every missing tool with the command that installs it', () => {
    assert.deepEqual(findMissingTools(['pdsh', 'parallel-ssh', 'ansible'], ''), {
      pdsh: 'apt-get install -y pdsh && apt-get install -y time && apt-get install -y openssh-client',
      'parallel-ssh':
        'apt-get install -y pssh && apt-get install -y time && apt-get install -y openssh-client',
      ansible: 'apt-get install -y ansible && apt-get install -y time && apt-get install -y openssh-client',
    });
  });

  it('finds a tool that is an executable on PATH, and only then', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-path-'));
    try {
      for (const name of ['pdsh', 'time', 'ssh', 'ansible']) writeFileSync(join(dir, name), '#!/bin/sh\n');
      for (const name of ['pdsh', 'time', 'ssh']) chmodSync(join(dir, name), 0o755);
      assert.deepEqual(
        findMissingTools(['pdsh', 'pdsh-curve25519', 'ansible', 'parallel-ssh'], `/nonexistent:${dir}`),
        {
          ansible: 'apt-get install -y ansible',
          'parallel-ssh': 'apt-get install -y pssh',
        },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads strace -c's table: fork-like calls and execs", () => {
    const table = [
      '% time     seconds  usecs/call     calls    errors syscall',
      '------ ----------- ----------- --------- --------- ----------------',
      ' 62.28    0.000071          71        40           clone',
      ' 20.00    0.000020          20         3           clone3',
      ' 17.72    0.000043          43         2           vfork',
      '  0.00    0.000000           0        30         4 execve',
      '------ ----------- ----------- --------- --------- ----------------',
      '100.00    0.000114          28        75         4 total',
    ].join('\n');
    assert.deepEqual(parseStraceSummary(table), { forks: 45, execs: 30 });
    assert.deepEqual(parseStraceSummary(''), { forks: 0, execs: 0 });
  });
});
