/**
 * The printed report: one table per fleet size and fan-out (and for the latency pass), the
 * per-operation series, forks, SSM and the Lambda bundles, then every target marked met, MISSED
 * or not measured (targets.ts).
 */
import type { BenchResults, MedianCell, RunnerName } from './results.ts';
import { comparedWall, inProcess, speedup } from './results.ts';
import { fmt } from './stats.ts';

export { evaluateTargets } from './targets.ts';

export const LABELS: Record<RunnerName, string> = {
  ours: 'ours: heartbeat.get+appstack',
  floor: 'floor: bare ssh2 `true`',
  'floor-work': 'floor: bare ssh2, same one-liner',
  'floor-checks': 'floor: bare ssh2, the checks alone',
  pdsh: 'pdsh -R ssh (defaults)',
  'pdsh-curve25519': 'pdsh, KexAlgorithms=curve25519',
  'parallel-ssh': 'parallel-ssh (defaults)',
  ansible: 'ansible -m raw (defaults, cold)',
};

export const ORDER: RunnerName[] = [
  'ours',
  'floor',
  'floor-work',
  'floor-checks',
  'pdsh',
  'pdsh-curve25519',
  'parallel-ssh',
  'ansible',
];

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

function cellTable(results: BenchResults, cell: MedianCell, latency: boolean): string[] {
  const out: string[] = [];
  const widths = [33, 7, 7, 7, 7, 9, 7, 7, 9, 7, ...(latency ? [8, 8] : [])];
  out.push(
    row(
      [
        'runner',
        'wall s',
        'proc s',
        '× ours',
        'CPU s',
        'host/host',
        'RSS MB',
        'ms/host',
        'hosts ok',
        'other s',
        ...(latency ? ['RT/host', 'KiB/host'] : []),
      ],
      widths,
    ),
  );
  for (const runner of ORDER) {
    const f = cell.medians[runner];
    const install = results.missing[runner];
    if (install) {
      out.push(`${LABELS[runner].padEnd(widths[0]!)}  missing — not measured; install: ${install}`);
      continue;
    }
    if (!f) continue;
    out.push(
      row(
        [
          LABELS[runner],
          inProcess(runner) ? fmt(f.wallMs / 1000) : '',
          fmt(f.processWallMs / 1000),
          runner === 'ours' ? '1.00' : fmt(speedup(runner, cell)),
          fmt(f.cpuMs / 1000),
          `${fmt(f.serverCpuMs / f.hosts, 1)} ms`,
          fmt(f.maxRssMB, 1),
          fmt(comparedWall(runner, f) / f.hosts, 1),
          `${Math.round(f.succeeded)}/${f.hosts}${f.failedReps ? ` (${f.failedReps} bad)` : ''}`,
          fmt(f.otherCpuMs / 1000),
          ...(latency
            ? [
                fmt((f.roundTrips ?? Number.NaN) / f.hosts, 1),
                fmt((f.wireBytes ?? Number.NaN) / f.hosts / 1024, 1),
              ]
            : []),
        ],
        widths,
      ),
    );
  }
  const ours = cell.medians.ours;
  if (ours?.execs !== undefined)
    out.push(
      `  ours: ${fmt(ours.execs / ours.hosts)} programs and ${fmt((ours.connections ?? 0) / ours.hosts)} connections per host, ${fmt((ours.bytesOut ?? 0) / ours.hosts / 1024, 1)} KiB of program sent and ${fmt((ours.bytesIn ?? 0) / ours.hosts / 1024, 1)} KiB of answer received per host`,
    );
  return out;
}

function header(results: BenchResults): string[] {
  const m = results.machine;
  const cpu =
    results.settings.serverCpu === 'cgroup'
      ? 'a cgroup (every process sshd started)'
      : results.settings.serverCpu === 'proc'
        ? '/proc (only processes sshd reaped: an undercount for OpenSSH clients)'
        : '–';
  const out = [
    `cloudiq-bootstrap benchmark — ${results.date}`,
    `${m.cpus} × ${m.model}, ${m.memoryGB} GB, Linux ${m.kernel}, Node ${m.node}, ${m.openssh}`,
    `load average ${fmt(results.loadAverage)} when the run began${results.loadAverage > m.cpus / 2 ? ' — other work on the machine: every figure is slower than on a quiet one' : ''}`,
    `sshd: ${results.settings.sshd.join(', ')}; ${results.settings.hostsPerSshd} hosts per sshd process, each on its own 127.0.x.y; host CPU counted by ${cpu}`,
  ];
  const missing = Object.entries(results.missing);
  if (missing.length > 0)
    out.push(
      `missing (not installed by the bench): ${missing.map(([r, cmd]) => `${r} — ${cmd}`).join('; ')}`,
    );
  out.push('');
  return out;
}

/** The whole report as text. */
export function formatReport(results: BenchResults): string {
  const out = header(results);
  for (const cell of results.heartbeat) {
    out.push(
      `Fleet heartbeat — ${cell.hosts} hosts, fan-out ${cell.fanout} (medians of ${results.settings.reps})`,
    );
    out.push(...cellTable(results, cell, false), '');
  }
  if (results.latency) {
    for (const cell of results.latency.cells) {
      out.push(
        `Fleet heartbeat at ${results.latency.rttMs} ms RTT (delay proxy in front of every host) — ${cell.hosts} hosts, fan-out ${cell.fanout} (medians of ${results.settings.reps})`,
      );
      out.push(...cellTable(results, cell, true), '');
    }
  }
  if (results.heartbeat.length > 0 || results.latency)
    out.push(
      '× ours = how many times ours is faster, like for like: the floors against ours inside the process',
      '(wall s), the tools against our whole process from spawn to exit (proc s). CPU s is the client',
      "side, whole process; host/host is the hosts' CPU per host (sshd and every program it ran);",
      'other s is CPU the rest of the machine used meanwhile (near 0 on a quiet machine). RT/host: round',
      'trips per host counted by the delay proxy on each connection’s critical path, TCP handshakes',
      'included; KiB/host: bytes through the proxy, both ways.',
      '',
    );
  const series = [
    ...(results.perOperation ?? []).map((s) => ({ s, rtt: 0 })),
    ...(results.latency?.perOperation ?? []).map((s) => ({ s, rtt: results.latency!.rttMs })),
  ];
  if (series.length > 0) {
    out.push('One host, one open connection (medians)');
    for (const { s, rtt } of series)
      out.push(
        `  ${rtt ? `${rtt} ms RTT ` : ''}${s.what.padEnd(17)} ${s.concurrency === 1 ? 'sequential ' : `${s.concurrency} at a time`}  median ${fmt(s.medianMs)} ms  p95 ${fmt(s.p95Ms)} ms  ${fmt(s.throughputMsPerOp)} ms/op overall  (${s.ops} ops)${s.roundTripsPerOp === undefined ? '' : `  ${fmt(s.roundTripsPerOp, 2)} round trips/op`}`,
      );
    out.push('');
  }
  if (results.forks) {
    if ('counts' in results.forks) {
      out.push(`Processes started on the hosts per heartbeat (${results.forks.method})`);
      for (const c of results.forks.counts)
        out.push(
          `  ${LABELS[c.runner as RunnerName] ?? c.runner}: ${fmt(c.forksPerHost, 1)} forks, ${fmt(c.execsPerHost, 1)} execs per host (${c.hosts} hosts)`,
        );
    } else out.push(`Forks per host: not measured — ${results.forks.why}`);
    out.push('');
  }
  if (results.ssm) {
    out.push('SSM fleet heartbeat (loopback SSM, real SSMClient)');
    for (const r of results.ssm)
      out.push(
        `  ${r.instances} instances, fan-out ${r.fanout}: ${r.sendCommands} SendCommand (${fmt(r.sendCommandsPer50Hosts)} per 50 hosts, ${r.instancesPerCall.min}–${r.instancesPerCall.max} instances each), ${r.otherCalls} other calls, largest commands ${fmt(r.maxCommandsBytes / 1024, 1)} KiB, ${fmt(r.wallMs / 1000)} s, ${r.succeeded}/${r.instances} ok`,
      );
    for (const c of results.ssmCommandSizes ?? [])
      out.push(
        `  commands of ${c.operation}: ${c.bytes.map((b) => `${fmt(b / 1024, 1)} KiB`).join(', ') || 'none'}${c.error ? ` — ${c.error}` : ''}`,
      );
    out.push('');
  }
  if (results.lambda) {
    const sdk = results.lambda.functions.some((f) => f.externalSdk) ? 'left to the runtime' : 'bundled';
    out.push(
      `Lambda bundles (AWS SDK ${sdk}; init = import() in a fresh node, samples round-robin over the bundles)`,
    );
    for (const f of results.lambda.functions)
      out.push(
        `  ${f.name.padEnd(14)} ${fmt(f.bytes / 1e6, 3)} MB (${f.files} files, index.mjs ${fmt(f.entryBytes / 1e3, 0)} kB)  init ${fmt(f.initMs, 1)} ms (median of ${f.samples}; quartiles ${fmt(f.initSpread.p25, 0)}–${fmt(f.initSpread.p75, 0)}, range ${fmt(f.initSpread.min, 0)}–${fmt(f.initSpread.max, 0)})`,
        `      largest parts: ${f.largest.map((p) => `${p.part} ${fmt(p.bytes / 1e3, 0)} kB`).join(', ')}`,
      );
    const file = results.lambda.cliFileStartMs;
    out.push(
      `  CLI: \`--version\` from spawn to exit ${fmt(results.lambda.cliStartMs, 1)} ms (dist/cli/, what the checkout runs)${file === undefined ? '' : `; ${fmt(file, 1)} ms as one file (dist/cloudiq-bootstrap.mjs, for servers)`}`,
      '',
    );
  }
  for (const p of results.profiles) {
    out.push(`CPU profile of ours (${p.file}): ${fmt(p.totalMs)} ms`);
    out.push(`  ${p.buckets.map((b) => `${b.bucket} ${fmt(b.share * 100, 0)}%`).join(', ')}`);
    for (const t of p.top.slice(0, 8)) out.push(`    ${fmt(t.ms, 0).padStart(6)} ms  ${t.fn}  (${t.where})`);
    out.push('');
  }
  out.push('Targets');
  for (const t of results.targets) {
    const mark = t.info ? ' count  ' : t.met === null ? 'not meas' : t.met ? '  met   ' : ' MISSED ';
    out.push(`  ${mark}  ${t.name}: ${t.measured} (target ${t.target})${t.note ? ` — ${t.note}` : ''}`);
  }
  if (results.errors.length > 0) out.push('', 'Errors', ...results.errors.map((e) => `  ${e}`));
  out.push('', `${fmt(results.durationS, 0)} s in all`);
  return out.join('\n');
}
