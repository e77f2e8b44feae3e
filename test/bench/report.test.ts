import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateTargets, formatReport } from '../../bench/report.ts';
import type { BenchResults, Medians, RunnerName } from '../../bench/results.ts';

function medians(hosts: number, wallS: number, cpuMsPerHost: number, hostCpuMsPerHost: number): Medians {
  return {
    hosts,
    succeeded: hosts,
    wallMs: wallS * 1000,
    processWallMs: wallS * 1000 + 300,
    cpuMs: cpuMsPerHost * hosts,
    maxRssMB: 90,
    serverCpuMs: hostCpuMsPerHost * hosts,
    otherCpuMs: 0,
    reps: 3,
    failedReps: 0,
  };
}

/** A 200-host, fan-out 32 heartbeat cell with these medians (no repetitions of its own). */
function cellAt200(runners: Partial<Record<RunnerName, Medians>>) {
  return { hosts: 200, fanout: 32, runs: {}, medians: runners };
}

function results(overrides: Partial<Omit<BenchResults, 'targets'>> = {}): Omit<BenchResults, 'targets'> {
  return {
    schema: 2,
    date: '2026-11-27T00:00:00.000Z',
    machine: { cpus: 2, model: 'test', memoryGB: 4, kernel: 'x', node: '20', openssh: 'OpenSSH_9.2' },
    loadAverage: 0.1,
    settings: {
      hosts: [200],
      fanouts: [32],
      reps: 3,
      hostsPerSshd: 15,
      sshd: [],
      serverCpu: 'cgroup',
      ssmHosts: 500,
      ops: 200,
      rttMs: 0,
    },
    missing: {},
    heartbeat: [],
    perOperation: null,
    latency: null,
    forks: null,
    ssm: null,
    ssmCommandSizes: null,
    lambda: null,
    profiles: [],
    errors: [],
    durationS: 1,
    ...overrides,
  };
}

const EVERY_ROW = [
  /^whole process faster than pdsh-curve25519/,
  /^whole process faster than pdsh\b/,
  /^whole process faster than parallel-ssh/,
  /^client CPU per host vs bare ssh2 doing the same work/,
  /^host CPU per host/,
  /^a further product.get/,
  /RTT: round trips per heartbeat/,
  /RTT: fleet heartbeat no slower than pdsh/,
  /^peak RSS/,
  /^SSM SendCommand .*fan-out 64/,
  /^SSM SendCommand .*fan-out 500/,
  /^SSM commands size/,
  /^Lambda/,
  /^forks per host/,
  /^bytes per host/,
];

describe('bench targets', () => {
  it('lists every target even when nothing was measured, each saying why', () => {
    const targets = evaluateTargets(results());
    for (const pattern of EVERY_ROW)
      assert.ok(
        targets.some((t) => pattern.test(t.name)),
        `no row ${pattern}: ${targets.map((t) => t.name).join(' | ')}`,
      );
    for (const t of targets) {
      assert.equal(t.met, null, t.name);
      assert.match(t.measured, /^not measured: /, t.name);
    }
  });

  it('marks a missing tool missing, never as a time, and its ratio targets not measured', () => {
    const cell = cellAt200({
      ours: medians(200, 4, 8, 30),
      floor: medians(200, 2.5, 5, 18),
      'floor-work': medians(200, 3, 7, 36),
      'parallel-ssh': medians(200, 13, 80, 42),
    });
    const partial = results({
      missing: { pdsh: 'apt-get install -y pdsh', 'pdsh-curve25519': 'apt-get install -y pdsh' },
      heartbeat: [cell],
    });
    const targets = evaluateTargets(partial);
    const byName = (re: RegExp) => targets.find((t) => re.test(t.name))!;
    assert.equal(byName(/faster than pdsh-curve25519/).met, null);
    assert.match(
      byName(/faster than pdsh-curve25519/).measured,
      /pdsh-curve25519 missing \(apt-get install -y pdsh\)/,
    );
    assert.equal(byName(/faster than pdsh,/).met, null);
    // parallel-ssh: 13.3 s against ours 4.3 s is 3.09×.
    assert.equal(byName(/faster than parallel-ssh/).met, true);
    // Client CPU 8 ms vs 7 ms per host: 1.14×, met; host CPU 30 vs 36 ms: 0.83×, met.
    assert.equal(byName(/client CPU/).met, true);
    assert.equal(byName(/host CPU per host/).met, true);
    assert.equal(byName(/peak RSS/).met, true);
    const text = formatReport({ ...partial, targets });
    assert.match(text, /pdsh -R ssh \(defaults\) +missing — not measured; install: apt-get install -y pdsh/);
    assert.doesNotMatch(
      text
        .split('\n')
        .filter((l) => l.startsWith('pdsh'))
        .join('\n'),
      /0\.00/,
    );
    assert.match(text, /not meas +whole process faster than pdsh,/);
  });

  it('shows the CPU and whole-process ratios of each repetition beside their medians', () => {
    // Three repetitions: ours at 8, 9 and 7 ms per host of client CPU against the one-liner's 6,
    // 6 and 7 (1.33×, 1.50×, 1.00×), and at 40, 42, 38 ms of host CPU against 36, 40, 38.
    const run = (wallS: number, cpu: number, host: number) => {
      const { reps: _reps, failedReps: _failed, ...figures } = medians(200, wallS, cpu, host);
      return { ...figures, errors: [] };
    };
    const cell = {
      hosts: 200,
      fanout: 32,
      runs: {
        ours: [run(5, 8, 40), run(5.5, 9, 42), run(4.5, 7, 38)],
        'floor-work': [run(4, 6, 36), run(4, 6, 40), run(4, 7, 38)],
        'pdsh-curve25519': [run(6, 18, 35), run(5, 18, 35), run(6, 18, 35)],
      } as Partial<Record<RunnerName, ReturnType<typeof run>[]>>,
      medians: {
        ours: medians(200, 5, 8, 40),
        'floor-work': medians(200, 4, 6, 38),
        'pdsh-curve25519': medians(200, 6, 18, 35),
      } as Partial<Record<RunnerName, Medians>>,
    };
    const targets = evaluateTargets(results({ heartbeat: [cell] }));
    const note = (re: RegExp) => targets.find((t) => re.test(t.name))?.note ?? '';
    assert.match(note(/client CPU/), /per repetition 1\.33×, 1\.50×, 1\.00×/);
    assert.match(note(/host CPU per host/), /per repetition 1\.11×, 1\.05×, 1\.00×/);
    // Whole process, spawn to exit (0.3 s more than the run): 6.3 / 5.3, 5.3 / 5.8, 6.3 / 4.8.
    assert.match(note(/faster than pdsh-curve25519/), /per repetition 1\.19×, 0\.91×, 1\.31×/);
    // One repetition has no spread to show.
    const one = { ...cell, runs: { ours: [run(5, 8, 40)], 'floor-work': [run(4, 6, 36)] } };
    const single = evaluateTargets(results({ heartbeat: [one] }));
    assert.doesNotMatch(single.find((t) => /client CPU/.test(t.name))?.note ?? '', /per repetition/);
  });

  it('sets each missed ratio beside its bound: the same work by bare ssh2, and the checks alone', () => {
    const cell = cellAt200({
      ours: medians(200, 5, 8, 40),
      'floor-work': medians(200, 4, 6, 36),
      'floor-checks': medians(200, 3, 5, 30),
      'pdsh-curve25519': medians(200, 6, 18, 35),
    });
    const targets = evaluateTargets(results({ heartbeat: [cell] }));
    const note = (re: RegExp) => targets.find((t) => re.test(t.name))?.note ?? '';
    // pdsh 6.3 s from spawn to exit against the same work by bare ssh2 in 4.3 s: 1.47×.
    assert.match(note(/faster than pdsh-curve25519/), /bare ssh2 doing the same work: 1\.47×/);
    // Its hosts: 35 ms a host against bare ssh2's 36 on the same one-liner.
    assert.match(
      note(/faster than pdsh-curve25519/),
      /pdsh-curve25519's hosts 35\.0 ms a host, 0\.97× bare ssh2's on the same work/,
    );
    // 30 ms of host CPU for the checks alone against the one-liner's 36: 0.83×.
    assert.match(
      note(/host CPU per host/),
      /bare ssh2 running only the two checks: 30\.0 ms \(0\.83× the one-liner\)/,
    );
    const text = formatReport({ ...results({ heartbeat: [cell] }), targets });
    assert.match(text, /floor: bare ssh2, the checks alone +3\.00/);
    // Without those runs, no bound is claimed.
    const bare = {
      ...cell,
      medians: { ours: medians(200, 5, 8, 40), 'floor-work': medians(200, 4, 6, 36) },
    };
    const without = evaluateTargets(results({ heartbeat: [bare] }));
    assert.doesNotMatch(without.find((t) => /host CPU per host/.test(t.name))?.note ?? '', /checks/);
  });

  it('reads the latency targets from the proxy’s round trips, against every tool measured', () => {
    const at = (s: number, trips: number) => ({ ...medians(200, s, 8, 30), roundTrips: trips * 200 });
    const cells = [
      cellAt200({ ours: at(5, 8), pdsh: at(14, 9), 'pdsh-curve25519': at(6, 9), ansible: at(20, 7) }),
    ];
    const targets = evaluateTargets(results({ latency: { rttMs: 50, cells, perOperation: null } }));
    const trips = targets.find((t) => /round trips per heartbeat/.test(t.name))!;
    // Ansible needs 7: ours' 8 is more.
    assert.equal(trips.met, false);
    assert.match(trips.measured, /ours 8\.0; pdsh 9\.0, pdsh-curve25519 9\.0, ansible 7\.0/);
    const slower = targets.find((t) => /no slower than pdsh/.test(t.name))!;
    assert.equal(slower.met, true);
    assert.match(slower.measured, /vs pdsh-curve25519/);
  });
});
