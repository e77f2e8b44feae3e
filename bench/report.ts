/**
 * The printed table and the targets of issue 8, each marked met or missed from the medians.
 */
import type { BenchResults, RunnerName, Target } from './results.ts';
import { comparedWall, speedup } from './results.ts';
import { fmt } from './stats.ts';

const LABELS: Record<RunnerName, string> = {
  ours: 'ours: heartbeat.get+appstack',
  floor: 'floor: bare ssh2 `true`',
  pdsh: 'pdsh -R ssh (defaults)',
  'pdsh-curve25519': 'pdsh, KexAlgorithms=curve25519',
  'parallel-ssh': 'parallel-ssh (defaults)',
  ansible: 'ansible -m raw (defaults, cold)',
};

const ORDER: RunnerName[] = ['ours', 'floor', 'pdsh', 'pdsh-curve25519', 'parallel-ssh', 'ansible'];

const LAMBDA_MAX_BYTES = 1_500_000;

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/** Issue 8's targets against the measured medians (at 200 hosts, or the largest fleet measured). */
export function evaluateTargets(results: Omit<BenchResults, 'targets'>): Target[] {
  const targets: Target[] = [];
  const sizes = results.heartbeat.map((c) => c.hosts);
  const n = sizes.includes(200) ? 200 : Math.max(0, ...sizes);
  const at = n === 200 ? '200 hosts' : `${n} hosts (not 200)`;
  for (const cell of results.heartbeat.filter((c) => c.hosts === n)) {
    const { ours, floor } = cell.medians;
    const where = `${at}, fan-out ${cell.fanout}`;
    if (ours && floor) {
      const ratio = ours.wallMs / floor.wallMs;
      targets.push({
        name: `heartbeat vs bare ssh2 floor, ${where}`,
        target: '≤ 1.25× floor',
        measured: `${fmt(ratio)}× (${fmt(ours.wallMs / 1000)} s vs ${fmt(floor.wallMs / 1000)} s)`,
        met: ratio <= 1.25,
        note: `sshd CPU per host ${fmt(ours.serverCpuMs / ours.hosts, 1)} ms vs ${fmt(floor.serverCpuMs / floor.hosts, 1)} ms; client CPU per host during the run ${fmt((ours.runCpuMs ?? Number.NaN) / ours.hosts, 1)} ms vs ${fmt((floor.runCpuMs ?? Number.NaN) / floor.hosts, 1)} ms`,
      });
    }
    for (const [tool, min] of [
      ['pdsh', 4],
      ['parallel-ssh', 4],
      ['ansible', 4],
      ['pdsh-curve25519', 1.05],
    ] as const) {
      const other = cell.medians[tool];
      if (!ours || !other) continue;
      const s = speedup(tool, cell);
      targets.push({
        name: `faster than ${LABELS[tool]}, ${where}`,
        target: `≥ ${min}×`,
        measured: `${fmt(s)}× (${fmt(comparedWall(tool, other) / 1000)} s vs ours ${fmt(ours.processWallMs / 1000)} s, whole processes)`,
        met: s >= min,
        note: `client CPU per host ${fmt(other.cpuMs / other.hosts, 1)} ms vs ours ${fmt(ours.cpuMs / ours.hosts, 1)} ms; sshd CPU per host ${fmt(other.serverCpuMs / other.hosts, 1)} ms vs ours ${fmt(ours.serverCpuMs / ours.hosts, 1)} ms`,
      });
    }
  }
  const rss = results.heartbeat
    .filter((c) => c.hosts === n)
    .flatMap((c) => (c.medians.ours ? [c.medians.ours] : []));
  if (rss.length > 0) {
    const peak = Math.max(...rss.map((r) => r.maxRssMB));
    targets.push({
      name: `peak RSS of our ${at} heartbeat`,
      target: '≤ 150 MB',
      measured: `${fmt(peak, 1)} MB`,
      met: peak <= 150,
    });
  }
  const seq = results.perOperation?.find((s) => s.what === 'product.get' && s.concurrency === 1);
  if (seq) {
    targets.push({
      name: 'a further product.get on an open connection (sequential)',
      target: 'median ≤ 3 ms',
      measured: `${fmt(seq.medianMs)} ms (p95 ${fmt(seq.p95Ms)} ms)`,
      met: seq.medianMs <= 3,
    });
  }
  for (const run of results.ssm ?? []) {
    // "≤ 1 per 50 hosts" as whole calls: at most ⌈instances / 50⌉.
    const allowed = Math.ceil(run.instances / 50);
    targets.push({
      name: `SSM SendCommand for a heartbeat of ${run.instances} instances, fan-out ${run.fanout}`,
      target: `≤ 1 per 50 hosts (${allowed} calls)`,
      measured: `${run.sendCommands} calls, ${fmt(run.sendCommandsPer50Hosts)} per 50 hosts`,
      met: run.sendCommands <= allowed,
    });
  }
  for (const fn of results.lambda?.functions ?? []) {
    targets.push({
      name: `Lambda bundle ${fn.name}: size`,
      target: '≤ 1.5 MB',
      measured: `${fmt(fn.bytes / 1e6, 3)} MB`,
      met: fn.bytes <= LAMBDA_MAX_BYTES,
    });
    targets.push({
      name: `Lambda bundle ${fn.name}: module init`,
      target: '≤ 150 ms',
      measured: `${fmt(fn.initMs, 1)} ms`,
      met: fn.initMs <= 150,
    });
  }
  return targets;
}

/** The whole report as text. */
export function formatReport(results: BenchResults): string {
  const out: string[] = [];
  const m = results.machine;
  out.push(
    `cloudiq-bootstrap benchmark — ${results.date}`,
    `${m.cpus} × ${m.model}, ${m.memoryGB} GB, Linux ${m.kernel}, Node ${m.node}, ${m.openssh}`,
    `load average ${fmt(results.loadAverage)} when the run began`,
    `sshd: ${results.settings.sshd.join(', ')}; ${results.settings.hostsPerSshd} hosts per sshd process, each on its own 127.0.x.y; sshd CPU counted by ${results.settings.serverCpu === 'cgroup' ? 'a cgroup (every process sshd started)' : results.settings.serverCpu === 'proc' ? '/proc (only processes sshd reaped: an undercount for OpenSSH clients)' : '–'}`,
    '',
  );
  const widths = [33, 7, 7, 7, 7, 9, 7, 7, 9, 8];
  for (const cell of results.heartbeat) {
    const reps = cell.medians.ours?.reps ?? results.settings.reps;
    out.push(`Fleet heartbeat — ${cell.hosts} hosts, fan-out ${cell.fanout} (medians of ${reps})`);
    out.push(
      row(
        ['runner', 'wall s', 'proc s', '× ours', 'CPU s', 'sshd/host', 'RSS MB', 'ms/host', 'hosts ok'],
        widths,
      ),
    );
    for (const runner of ORDER) {
      const f = cell.medians[runner];
      if (!f) continue;
      const inProcess = runner === 'ours' || runner === 'floor';
      out.push(
        row(
          [
            LABELS[runner],
            inProcess ? fmt(f.wallMs / 1000) : '',
            fmt(f.processWallMs / 1000),
            runner === 'ours' ? '1.00' : fmt(speedup(runner, cell)),
            fmt(f.cpuMs / 1000),
            `${fmt(f.serverCpuMs / f.hosts, 1)} ms`,
            fmt(f.maxRssMB, 1),
            fmt(comparedWall(runner, f) / f.hosts, 1),
            `${Math.round(f.succeeded)}/${f.hosts}${f.failedReps ? ` (${f.failedReps} bad rep)` : ''}`,
            fmt(f.otherCpuMs / 1000),
          ],
          widths,
        ),
      );
    }
    const ours = cell.medians.ours;
    if (ours?.execs !== undefined)
      out.push(
        `  ours: ${fmt(ours.execs / ours.hosts)} programs and ${fmt((ours.connections ?? 0) / ours.hosts)} connections per host`,
      );
    out.push('');
  }
  if (results.heartbeat.length > 0)
    out.push(
      '× ours = how many times ours is faster, like for like: the floor against ours inside the process',
      '(wall s), the tools against our whole process from spawn to exit (proc s). CPU s is the client',
      "side, whole process; sshd/host is the servers' CPU per host, the programs they ran included;",
      'other s is CPU the rest of the machine used meanwhile (near 0 on a quiet machine).',
      '',
    );
  if (results.perOperation) {
    out.push('One host, one open connection (median over repetitions)');
    for (const s of results.perOperation)
      out.push(
        `  ${s.what.padEnd(14)} ${s.concurrency === 1 ? 'sequential ' : `${s.concurrency} at a time`}  median ${fmt(s.medianMs)} ms  p95 ${fmt(s.p95Ms)} ms  ${fmt(s.throughputMsPerOp)} ms/op overall  (${s.ops} ops)`,
      );
    out.push('');
  }
  if (results.ssm) {
    out.push('SSM fleet heartbeat (loopback SSM, real SSMClient)');
    for (const r of results.ssm)
      out.push(
        `  ${r.instances} instances, fan-out ${r.fanout}: ${r.sendCommands} SendCommand (${fmt(r.sendCommandsPer50Hosts)} per 50 hosts, ${r.instancesPerCall.min}–${r.instancesPerCall.max} instances each), ${r.otherCalls} other calls, ${fmt(r.wallMs / 1000)} s, ${r.succeeded}/${r.instances} ok`,
      );
    out.push('');
  }
  if (results.lambda) {
    const sdk = results.lambda.functions.some((f) => f.externalSdk) ? 'left to the runtime' : 'bundled';
    out.push(`Lambda bundles (AWS SDK ${sdk}; init = import() in a fresh node)`);
    for (const f of results.lambda.functions)
      out.push(
        `  ${f.name.padEnd(14)} ${fmt(f.bytes / 1e6, 3)} MB  init ${fmt(f.initMs, 1)} ms (median of ${f.samples})`,
        `      largest parts: ${f.largest.map((p) => `${p.part} ${fmt(p.bytes / 1e3, 0)} kB`).join(', ')}`,
      );
    out.push(`  CLI bundle: \`--version\` from spawn to exit ${fmt(results.lambda.cliStartMs, 1)} ms`, '');
  }
  for (const p of results.profiles) {
    out.push(`CPU profile of ours (${p.file}): ${fmt(p.totalMs)} ms`);
    out.push(`  ${p.buckets.map((b) => `${b.bucket} ${fmt(b.share * 100, 0)}%`).join(', ')}`);
    for (const t of p.top.slice(0, 8)) out.push(`    ${fmt(t.ms, 0).padStart(6)} ms  ${t.fn}  (${t.where})`);
    out.push('');
  }
  out.push('Targets (issue 8)');
  for (const t of results.targets)
    out.push(
      `  ${t.met === null ? '  ?   ' : t.met ? '  met ' : 'MISSED'}  ${t.name}: ${t.measured} (target ${t.target})${t.note ? ` — ${t.note}` : ''}`,
    );
  if (results.errors.length > 0) out.push('', 'Errors', ...results.errors.map((e) => `  ${e}`));
  out.push('', `${fmt(results.durationS, 0)} s in all`);
  return out.join('\n');
}
