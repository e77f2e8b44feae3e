/**
 * The performance targets, every one of them, against one run's medians: met, missed, or not
 * measured with the reason (a tool missing and how to install it, a section not run, a run that
 * failed). Ratios compare runs of the same fleet at the same fan-out; no figure here fails a test.
 */
import type { BenchResults, MedianCell, Medians, RunFigures, RunnerName, Target } from './results.ts';
import { speedup } from './results.ts';
import { fmt } from './stats.ts';

type Measured = Omit<BenchResults, 'targets'>;

const LAMBDA_MAX_BYTES = 1_500_000;
const SSM_MAX_COMMANDS = 16 * 1024;
const TARGET_HOSTS = 200;
const TARGET_FANOUT = 32;

/** The cell the targets are read from: 200 hosts at fan-out 32, or the nearest this run has. */
export function targetCell(cells: readonly MedianCell[]): MedianCell | undefined {
  const largest = Math.max(0, ...cells.map((c) => c.hosts));
  const sized = cells.filter(
    (c) => c.hosts === (cells.some((c) => c.hosts === TARGET_HOSTS) ? TARGET_HOSTS : largest),
  );
  return sized.find((c) => c.fanout === TARGET_FANOUT) ?? sized[0];
}

function where(cell: MedianCell): string {
  const exact = cell.hosts === TARGET_HOSTS && cell.fanout === TARGET_FANOUT;
  return `${cell.hosts} hosts, fan-out ${cell.fanout}${exact ? '' : ` (target is at ${TARGET_HOSTS} hosts, fan-out ${TARGET_FANOUT})`}`;
}

/** Why a runner has no figures in a cell. */
function absent(
  results: Measured,
  runner: RunnerName,
  cell: MedianCell | undefined,
  section: string,
): string {
  const install = results.missing[runner];
  if (install) return `not measured: ${runner} missing (${install})`;
  if (!cell) return `not measured: no ${section} run (see --only)`;
  const failed = results.errors.find((e) => e.startsWith(`${runner} at`));
  return failed ? `not measured: ${failed}` : `not measured: ${runner} not run (see --only, --tools)`;
}

function perHost(m: Medians, value: number | undefined): number {
  return (value ?? Number.NaN) / m.hosts;
}

/**
 * `value(a) / value(b)` in each repetition that ran both (one repetition runs every runner back to
 * back), so that a ratio's median shows with its spread: on a shared machine one repetition's
 * ratio can differ from the next by a tenth. Undefined below two repetitions.
 */
function perRepetition(
  cell: MedianCell | undefined,
  a: RunnerName,
  b: RunnerName,
  value: (r: RunFigures) => number,
): string | undefined {
  const as = cell?.runs[a] ?? [];
  const bs = cell?.runs[b] ?? [];
  const n = Math.min(as.length, bs.length);
  if (n < 2) return undefined;
  const ratios = as.slice(0, n).map((r, i) => `${fmt(value(r) / value(bs[i]!))}×`);
  return `per repetition ${ratios.join(', ')}`;
}

const joined = (...parts: Array<string | undefined>) => parts.filter((p) => p).join('; ') || undefined;

function ratioTarget(
  name: string,
  target: string,
  measure: () => { ratio: number; measured: string; met: boolean; note?: string } | string,
): Target {
  const out = measure();
  if (typeof out === 'string') return { name, target, measured: out, met: null };
  return { name, target, measured: out.measured, met: out.met, ...(out.note ? { note: out.note } : {}) };
}

function loopbackTargets(results: Measured): Target[] {
  const cell = targetCell(results.heartbeat);
  const at = cell ? `, ${where(cell)}` : '';
  const ours = cell?.medians.ours;
  const out: Target[] = [];
  for (const [tool, min] of [
    ['pdsh-curve25519', 1.3],
    ['pdsh', 3],
    ['parallel-ssh', 3],
  ] as const) {
    out.push(
      ratioTarget(`whole process faster than ${tool}${at}`, `≥ ${min}×`, () => {
        const other = cell?.medians[tool];
        if (!ours) return absent(results, 'ours', cell, 'heartbeat');
        if (!other || !cell) return absent(results, tool, cell, 'tools');
        const ratio = speedup(tool, cell);
        // The same work done by the least client: how far above the tool any heartbeat could be.
        const least = cell.medians['floor-work'];
        // The tool's hosts beside bare ssh2's on the same one-liner: a run where the tool itself
        // ran slow (the machine busier while it ran) shows here, not only in a kinder ratio.
        const toolHosts = perHost(other, other.serverCpuMs);
        const note = joined(
          least
            ? `bare ssh2 doing the same work: ${fmt(other.processWallMs / least.processWallMs)}×`
            : undefined,
          least
            ? `${tool}'s hosts ${fmt(toolHosts, 1)} ms a host, ${fmt(toolHosts / perHost(least, least.serverCpuMs))}× bare ssh2's on the same work`
            : undefined,
          perRepetition(cell, tool, 'ours', (r) => r.processWallMs),
        );
        return {
          ratio,
          measured: `${fmt(ratio)}× (${fmt(other.processWallMs / 1000)} s vs ours ${fmt(ours.processWallMs / 1000)} s)`,
          met: ratio >= min,
          ...(note ? { note } : {}),
        };
      }),
    );
  }
  out.push(
    ratioTarget(`client CPU per host vs bare ssh2 doing the same work${at}`, '≤ 1.2×', () => {
      const floor = cell?.medians['floor-work'];
      if (!ours) return absent(results, 'ours', cell, 'heartbeat');
      if (!floor) return absent(results, 'floor-work', cell, 'floor');
      const ratio = perHost(ours, ours.cpuMs) / perHost(floor, floor.cpuMs);
      const t = cell?.medians.floor;
      const note = joined(
        t ? `bare ssh2 \`true\`: ${fmt(perHost(t, t.cpuMs), 1)} ms per host` : undefined,
        perRepetition(cell, 'ours', 'floor-work', (r) => r.cpuMs / r.hosts),
      );
      return {
        ratio,
        measured: `${fmt(ratio)}× (${fmt(perHost(ours, ours.cpuMs), 1)} ms vs ${fmt(perHost(floor, floor.cpuMs), 1)} ms)`,
        met: ratio <= 1.2,
        ...(note ? { note } : {}),
      };
    }),
  );
  out.push(
    ratioTarget(`host CPU per host (sshd + programs) vs the same-work one-liner${at}`, '≤ 0.85×', () => {
      const floor = cell?.medians['floor-work'];
      if (!ours) return absent(results, 'ours', cell, 'heartbeat');
      if (!floor) return absent(results, 'floor-work', cell, 'floor');
      const ratio = perHost(ours, ours.serverCpuMs) / perHost(floor, floor.serverCpuMs);
      const others = (['floor', 'pdsh-curve25519'] as const).flatMap((r) => {
        const m = cell?.medians[r];
        return m ? [`${r} ${fmt(perHost(m, m.serverCpuMs), 1)} ms`] : [];
      });
      // What no heartbeat can do without (sshd, the login shell, the two check programs): all
      // else a heartbeat does on the host must fit between it and the target.
      const checks = cell?.medians['floor-checks'];
      const bound = checks ? perHost(checks, checks.serverCpuMs) : undefined;
      const note = joined(
        bound !== undefined
          ? `bare ssh2 running only the two checks: ${fmt(bound, 1)} ms (${fmt(bound / perHost(floor, floor.serverCpuMs))}× the one-liner)`
          : undefined,
        others.length ? `host CPU per host with ${others.join(', ')}` : undefined,
        perRepetition(cell, 'ours', 'floor-work', (r) => r.serverCpuMs / r.hosts),
      );
      return {
        ratio,
        measured: `${fmt(ratio)}× (${fmt(perHost(ours, ours.serverCpuMs), 1)} ms vs ${fmt(perHost(floor, floor.serverCpuMs), 1)} ms, the one-liner run by bare ssh2)`,
        met: ratio <= 0.85,
        ...(note ? { note } : {}),
      };
    }),
  );
  const seq = results.perOperation?.find((s) => s.what === 'product.get' && s.concurrency === 1);
  out.push(
    seq
      ? {
          name: 'a further product.get on an open connection (sequential)',
          target: 'median ≤ 3 ms',
          measured: `${fmt(seq.medianMs)} ms (p95 ${fmt(seq.p95Ms)} ms)`,
          met: seq.medianMs <= 3,
        }
      : {
          name: 'a further product.get on an open connection (sequential)',
          target: 'median ≤ 3 ms',
          measured: `not measured: ${results.errors.find((e) => e.startsWith('per-operation')) ?? 'perop section not run'}`,
          met: null,
        },
  );
  return out;
}

function latencyTargets(results: Measured): Target[] {
  const latency = results.latency;
  const cell = latency ? targetCell(latency.cells) : undefined;
  const rtt = latency ? `${latency.rttMs} ms RTT` : 'with RTT';
  const at = cell ? `, ${where(cell)}` : '';
  const none = latency ? undefined : 'not measured: no latency pass (--rtt 0, or rtt not in --only)';
  const ours = cell?.medians.ours;
  const tools = (['pdsh', 'pdsh-curve25519', 'parallel-ssh', 'ansible'] as const).flatMap((t) => {
    const m = cell?.medians[t];
    return m ? [{ tool: t, m }] : [];
  });
  const trips = (m: Medians) => perHost(m, m.roundTrips);
  const out: Target[] = [];
  out.push(
    ratioTarget(`${rtt}: round trips per heartbeat, ours vs the tools${at}`, '≤ every tool', () => {
      if (none) return none;
      if (!ours) return absent(results, 'ours', cell, 'rtt');
      if (tools.length === 0) return absent(results, 'pdsh', cell, 'rtt');
      const fewest = tools.reduce((a, b) => (trips(b.m) < trips(a.m) ? b : a));
      const missing = Object.keys(results.missing);
      return {
        ratio: trips(ours) / trips(fewest.m),
        measured: `ours ${fmt(trips(ours), 1)}; ${tools.map((t) => `${t.tool} ${fmt(trips(t.m), 1)}`).join(', ')}`,
        met: trips(ours) <= trips(fewest.m),
        ...(missing.length ? { note: `not measured: ${missing.join(', ')} (missing)` } : {}),
      };
    }),
  );
  out.push(
    ratioTarget(`${rtt}: fleet heartbeat no slower than pdsh${at}`, '≥ 1.00×', () => {
      if (none) return none;
      if (!ours || !cell) return absent(results, 'ours', cell, 'rtt');
      const pdshes = (['pdsh', 'pdsh-curve25519'] as const).flatMap((t) => {
        const m = cell.medians[t];
        return m ? [{ tool: t, m }] : [];
      });
      if (pdshes.length === 0) return absent(results, 'pdsh', cell, 'rtt');
      // The faster pdsh is the bar.
      const best = pdshes.reduce((a, b) => (b.m.processWallMs < a.m.processWallMs ? b : a));
      const ratio = speedup(best.tool, cell);
      return {
        ratio,
        measured: `${fmt(ratio)}× vs ${best.tool} (${fmt(best.m.processWallMs / 1000)} s vs ours ${fmt(ours.processWallMs / 1000)} s)`,
        met: ratio >= 1,
      };
    }),
  );
  return out;
}

function fleetTargets(results: Measured): Target[] {
  const out: Target[] = [];
  const largest = targetCell(results.heartbeat);
  const rss = results.heartbeat
    .filter((c) => c.hosts === TARGET_HOSTS)
    .flatMap((c) => (c.medians.ours ? [c.medians.ours] : []));
  const peak = Math.max(...rss.map((r) => r.maxRssMB));
  out.push({
    name: `peak RSS of our ${TARGET_HOSTS}-host heartbeat`,
    target: '≤ 150 MB',
    measured:
      rss.length > 0
        ? `${fmt(peak, 1)} MB`
        : `not measured: no ${TARGET_HOSTS}-host run${largest?.medians.ours ? ` (${largest.hosts} hosts: ${fmt(largest.medians.ours.maxRssMB, 1)} MB)` : ''}`,
    met: rss.length > 0 ? peak <= 150 : null,
  });
  for (const fanout of ['64', 'all']) {
    const run = results.ssm?.find((r) =>
      fanout === 'all' ? r.fanout === r.instances : r.fanout === Number(fanout),
    );
    const allowed = run ? Math.ceil(run.instances / 50) : 0;
    out.push({
      name: `SSM SendCommand for a heartbeat, fan-out ${fanout === 'all' ? `${run?.instances ?? 500} (every instance at once)` : fanout}${run ? `, ${run.instances} instances${run.instances === 500 ? '' : ' (target is at 500)'}` : ''}`,
      target: '≤ 1 per 50 hosts',
      measured: run
        ? `${fmt(run.sendCommandsPer50Hosts)} per 50 hosts (${run.sendCommands} call${run.sendCommands === 1 ? '' : 's'}, ${allowed} allowed)`
        : `not measured: ${results.errors.find((e) => e.startsWith('ssm')) ?? 'ssm section not run'}`,
      met: run ? run.sendCommands <= allowed : null,
    });
  }
  for (const op of results.ssmCommandSizes ?? []) {
    out.push({
      name: `SSM commands size: ${op.operation}`,
      target: '≤ 16 KiB',
      measured: op.calls
        ? `${fmt(op.maxBytes / 1024, 1)} KiB largest of ${op.calls} call${op.calls === 1 ? '' : 's'}${op.error ? ` (${op.error})` : ''}`
        : `not measured: ${op.error ?? 'no SendCommand'}`,
      met: op.calls ? op.maxBytes <= SSM_MAX_COMMANDS : null,
    });
  }
  if (!results.ssmCommandSizes)
    out.push({
      name: 'SSM commands size per operation',
      target: '≤ 16 KiB',
      measured: 'not measured: ssm section not run',
      met: null,
    });
  for (const fn of results.lambda?.functions ?? []) {
    const s = fn.initSpread;
    out.push({
      name: `Lambda ${fn.name}: module init`,
      target: '≤ 150 ms',
      measured: `${fmt(fn.initMs, 1)} ms median of ${fn.samples} fresh processes (quartiles ${fmt(s.p25, 0)}–${fmt(s.p75, 0)}, range ${fmt(s.min, 0)}–${fmt(s.max, 0)})`,
      met: fn.initMs <= 150,
    });
    out.push({
      name: `Lambda ${fn.name}: bundle`,
      target: '≤ 1.5 MB',
      measured: `${fmt(fn.bytes / 1e6, 3)} MB`,
      met: fn.bytes <= LAMBDA_MAX_BYTES,
    });
  }
  if (!results.lambda)
    out.push({
      name: 'Lambda module init and bundle size',
      target: '≤ 150 ms, ≤ 1.5 MB',
      measured: `not measured: ${results.errors.find((e) => e.startsWith('lambda')) ?? 'lambda section not run'}`,
      met: null,
    });
  return out;
}

/** What the heartbeat costs the hosts, counted rather than targeted: forks and bytes per host. */
function countedRows(results: Measured): Target[] {
  const out: Target[] = [];
  const forks = results.forks;
  const ours = forks && 'counts' in forks ? forks.counts.find((c) => c.runner === 'ours') : undefined;
  const others = forks && 'counts' in forks ? forks.counts.filter((c) => c.runner !== 'ours') : [];
  out.push({
    name: 'forks per host, our heartbeat',
    target: 'counted',
    measured: ours
      ? `${fmt(ours.forksPerHost, 1)} forks, ${fmt(ours.execsPerHost, 1)} execs per host; ${others.map((c) => `${c.runner} ${fmt(c.forksPerHost, 1)} / ${fmt(c.execsPerHost, 1)}`).join(', ')}`
      : `not measured: ${forks && 'why' in forks ? forks.why : 'forks section not run'}`,
    met: null,
    info: true,
  });
  const cell = targetCell(results.heartbeat);
  const m = cell?.medians.ours;
  const wire = results.latency ? targetCell(results.latency.cells)?.medians.ours : undefined;
  out.push({
    name: 'bytes per host, our heartbeat',
    target: 'counted',
    measured: m
      ? `program ${fmt(perHost(m, m.bytesOut) / 1024, 1)} KiB sent, answer ${fmt(perHost(m, m.bytesIn) / 1024, 1)} KiB received${wire ? `; on the wire (SSH, both ways) ${fmt(perHost(wire, wire.wireBytes) / 1024, 1)} KiB` : ''}`
      : absent(results, 'ours', cell, 'heartbeat'),
    met: null,
    info: true,
  });
  return out;
}

/** Every target of the performance work, in one list. */
export function evaluateTargets(results: Measured): Target[] {
  return [
    ...loopbackTargets(results),
    ...latencyTargets(results),
    ...fleetTargets(results),
    ...countedRows(results),
  ];
}
