/**
 * The CPU the bench's sshd processes and everything they start use. A cgroup of our own (cgroup
 * v1 `cpuacct` or v2 `cpu.stat`) counts every descendant, including processes sshd does not wait
 * for: when an OpenSSH client hangs up right after the exit status, sshd's session processes are
 * not reaped into the listener's times, so /proc/<sshd>/stat's cutime misses the command's CPU
 * (measured: a 87 ms busy loop run by `ssh host …` added nothing there). /proc is the fallback
 * where no cgroup can be made, and the report says which was used.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuMeter {
  /** `cgroup` counts every descendant; `proc` only what the listeners reaped. */
  kind: 'cgroup' | 'proc';
  /** Accounts this process and all it will start. */
  add(pid: number): void;
  /** CPU used so far, in ms. */
  readMs(): number;
  /** Removes the cgroup (once its processes have ended). */
  close(): void;
}

// USER_HZ: /proc reports times in 1/100 s on Linux whatever the kernel's HZ.
const CLOCK_TICKS = 100;

function procMeter(): CpuMeter {
  const pids: number[] = [];
  return {
    kind: 'proc',
    add: (pid) => void pids.push(pid),
    readMs: () =>
      pids.reduce((sum, pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          // utime, stime, cutime, cstime
          return sum + ([11, 12, 13, 14].reduce((t, i) => t + Number(fields[i]), 0) * 1000) / CLOCK_TICKS;
        } catch {
          return sum;
        }
      }, 0),
    close: () => {},
  };
}

function cgroupMeter(dir: string, usage: () => number): CpuMeter {
  return {
    kind: 'cgroup',
    add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), `${pid}\n`),
    readMs: usage,
    close: () => {
      try {
        rmdirSync(dir);
      } catch {}
    },
  };
}

/** A cgroup named `name` when this process may make one, else the /proc fallback. */
export function createCpuMeter(name: string): CpuMeter {
  const v1 = '/sys/fs/cgroup/cpuacct';
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : null;
  try {
    if (existsSync(join(v1, 'cpuacct.usage'))) {
      const dir = join(v1, name);
      mkdirSync(dir);
      return cgroupMeter(dir, () => Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e6);
    }
    if (v2) {
      const dir = join(v2, name);
      mkdirSync(dir);
      return cgroupMeter(dir, () => {
        const line = readFileSync(join(dir, 'cpu.stat'), 'utf8').match(/^usage_usec (\d+)/m);
        return Number(line?.[1] ?? Number.NaN) / 1000;
      });
    }
  } catch {}
  return procMeter();
}

/**
 * CPU time all processes have spent (user, nice, system, steal) since boot, in ms. Interrupt and
 * softirq time are left out: loopback networking runs there and belongs to no process.
 */
export function machineBusyMs(): number {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const [user, nice, system, , , , , steal] = ticks.map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (steal ?? 0)) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
