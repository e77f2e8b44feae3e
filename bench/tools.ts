/**
 * The same work by established tools: pdsh (`-R ssh`), parallel-ssh and `ansible -m raw`, each
 * with its defaults, at the same fan-out, over the same hosts, verifying host keys against the
 * same known_hosts. The work is one shell line that reads what our heartbeat reads —
 * bootstrap.ini, server.ini, every product's state, the lock, the newest journal — runs the two
 * exec checks and prints uptime and load. Each host finds its own files from the address it was
 * reached on (`$SSH_CONNECTION`). Client CPU and peak RSS come from GNU time, which counts every
 * process the tool waited for (its ssh children included).
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import pLimit from 'p-limit';
import type { ToolName } from './args.ts';
import type { BenchFleet } from './loopback-fleet.ts';
import { run } from './processes.ts';

export interface ToolRun {
  tool: ToolName;
  hosts: number;
  fanout: number;
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Largest single process (GNU time's %M). */
  maxRssMB: number;
  succeeded: number;
  exitCode: number | null;
  errors: string[];
}

/** What each tool needs on PATH, and the Debian command that installs it. */
const NEEDS: Record<ToolName, Array<{ program: string; install: string }>> = {
  pdsh: [{ program: 'pdsh', install: 'apt-get install -y pdsh' }],
  'pdsh-curve25519': [{ program: 'pdsh', install: 'apt-get install -y pdsh' }],
  'parallel-ssh': [{ program: 'parallel-ssh', install: 'apt-get install -y pssh' }],
  ansible: [{ program: 'ansible', install: 'apt-get install -y ansible' }],
};
// Every tool's CPU and RSS come from GNU time; OpenSSH's client is what pdsh and the rest run.
const COMMON = [
  { program: 'time', install: 'apt-get install -y time' },
  { program: 'ssh', install: 'apt-get install -y openssh-client' },
];

export function onPath(program: string, path: string): boolean {
  return path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * The tools that cannot run here, each with the command that installs what it lacks. The bench
 * installs nothing itself: a missing tool is reported as missing, never measured as 0.
 */
export function findMissingTools(
  tools: readonly ToolName[],
  path = process.env['PATH'] ?? '',
): Partial<Record<ToolName, string>> {
  const missing: Partial<Record<ToolName, string>> = {};
  for (const tool of tools) {
    const lacking = [...NEEDS[tool], ...COMMON].filter((need) => !onPath(need.program, path));
    if (lacking.length > 0) missing[tool] = lacking.map((need) => need.install).join(' && ');
  }
  return missing;
}

// Printed as BENCH-2-DONE: the line itself never contains what it prints, so echoed commands don't count.
export const DONE = 'BENCH-2-DONE';

const HOST_DIRS = (byAddressDir: string) => `set -- $SSH_CONNECTION; r=${byAddressDir}/$3; s=$r/state`;
const CHECKS =
  'for c in $r/hooks/haproxy.check.sh $r/hooks/deepfiler.check.sh; do if $c; then echo "ok $c"; else echo "failed $c"; fi; done';
const DONE_LINE = 'echo BENCH-$((1+1))-DONE';

/** The heartbeat's work as one POSIX sh line (no fork beyond cat, ls, head and the checks). */
export function oneLiner(byAddressDir: string): string {
  return [
    HOST_DIRS(byAddressDir),
    'cat $r/etc/bootstrap.ini $s/server.ini $s/products/*.ini',
    'cat $s/bootstrap.pid 2>/dev/null',
    'j=$(ls -t $s/operations 2>/dev/null | head -n 1)',
    'if [ -n "$j" ]; then cat $s/operations/$j; fi',
    CHECKS,
    'cat /proc/uptime /proc/loadavg',
    DONE_LINE,
  ].join('; ');
}

/**
 * Only the one-liner's two checks: what no heartbeat can do without (sshd, the login shell, the
 * check programs themselves). The host-CPU target is read against it: what a heartbeat may spend
 * above it is the room the target leaves.
 */
export function checksLine(byAddressDir: string): string {
  return [HOST_DIRS(byAddressDir), CHECKS, DONE_LINE].join('; ');
}

function command(tool: ToolName, fleet: BenchFleet, n: number, fanout: number, line: string, cpDir: string) {
  const files = fleet.filesFor(n);
  const env: NodeJS.ProcessEnv = { ...process.env };
  switch (tool) {
    case 'pdsh':
    case 'pdsh-curve25519': {
      // PDSH_SSH_ARGS_APPEND adds to pdsh's own arguments (-2 -a -x -l%u %h) rather than replacing them.
      const kex = tool === 'pdsh-curve25519' ? ' -o KexAlgorithms=curve25519-sha256' : '';
      env['PDSH_SSH_ARGS_APPEND'] = `-F ${fleet.sshConfigFile}${kex}`;
      return {
        env,
        argv: ['pdsh', '-R', 'ssh', '-f', String(fanout), '-l', fleet.user, '-w', `^${files.hostList}`, line],
      };
    }
    case 'parallel-ssh':
      return {
        env,
        argv: [
          'parallel-ssh',
          '-h',
          files.hostList,
          '-p',
          String(fanout),
          '-x',
          `-F ${fleet.sshConfigFile}`,
          '-i',
          line,
        ],
      };
    case 'ansible':
      env['ANSIBLE_HOST_KEY_CHECKING'] = 'True';
      // A fresh ControlPersist directory: every run starts cold, as a scheduled run would.
      env['ANSIBLE_SSH_CONTROL_PATH_DIR'] = cpDir;
      return {
        env,
        argv: ['ansible', 'all', '-i', files.ansibleInventory, '-m', 'raw', '-a', line, '-f', String(fanout)],
      };
  }
}

/** Ends Ansible's ControlPersist masters of one run (they would hold their connections for 60 s). */
async function closeMasters(cpDir: string): Promise<void> {
  let sockets: string[] = [];
  try {
    sockets = readdirSync(cpDir).map((name) => join(cpDir, name));
  } catch {
    return;
  }
  const limit = pLimit(16);
  await Promise.all(
    sockets.map((socket) =>
      limit(() => run('ssh', ['-o', `ControlPath=${socket}`, '-O', 'exit', 'bench-master'])),
    ),
  );
}

let runs = 0;

/** Runs one tool once over the first `n` hosts and waits until the servers are idle again. */
export async function runTool(
  tool: ToolName,
  fleet: BenchFleet,
  n: number,
  fanout: number,
  tmp: string,
): Promise<ToolRun> {
  runs += 1;
  const cpDir = join(tmp, `ansible-cp-${runs}`);
  mkdirSync(cpDir, { recursive: true });
  const timeFile = join(tmp, `time-${runs}.txt`);
  const { argv, env } = command(tool, fleet, n, fanout, oneLiner(fleet.byAddressDir), cpDir);
  const finished = await run('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, '--', ...argv], {
    env,
    cwd: tmp,
  });
  if (tool === 'ansible') await closeMasters(cpDir);
  const [, user, system, rssKb] = readFileSync(timeFile, 'utf8')
    .trim()
    .split('\n')
    .at(-1)!
    .split(' ')
    .map(Number);
  const succeeded = finished.stdout.split(DONE).length - 1;
  return {
    tool,
    hosts: n,
    fanout,
    wallMs: finished.wallMs,
    cpuUserMs: (user ?? Number.NaN) * 1000,
    cpuSystemMs: (system ?? Number.NaN) * 1000,
    maxRssMB: (rssKb ?? Number.NaN) / 1024,
    succeeded,
    exitCode: finished.code,
    errors:
      succeeded === n
        ? []
        : [...finished.stderr.split('\n'), ...finished.stdout.split('\n')]
            .filter((l) => /error|fail|denied|refused|UNREACHABLE|timed out/i.test(l))
            .slice(0, 5),
  };
}
