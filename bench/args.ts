/**
 * `npm run bench [-- --hosts 50,200] [--reps 3] [--fanout 32,64] [--quick] [--only …] [--profile]`:
 * what to measure and how often. Defaults are issue 8's: 50 and 200 hosts, fan-out 32 and 64,
 * three repetitions, every section and every tool.
 */

export const SECTIONS = ['heartbeat', 'tools', 'floor', 'perop', 'ssm', 'lambda'] as const;
export type Section = (typeof SECTIONS)[number];

export const TOOLS = ['pdsh', 'pdsh-curve25519', 'parallel-ssh', 'ansible'] as const;
export type ToolName = (typeof TOOLS)[number];

export interface BenchArgs {
  hosts: number[];
  fanouts: number[];
  reps: number;
  sections: Set<Section>;
  tools: ToolName[];
  /** Instances of the SSM heartbeat. */
  ssmHosts: number;
  /** Fan-outs of the SSM heartbeat (`0` = every instance at once). */
  ssmFanouts: number[];
  /** Operations per per-operation series. */
  ops: number;
  /** Hosts served by one sshd process (each on its own 127.0.x.y address); sshd allows 16 listen sockets. */
  hostsPerSshd: number;
  /** Write a CPU profile of every heartbeat run of ours and summarise it. */
  profile: boolean;
  /** Where the JSON goes besides bench/results/latest.json. */
  out: string | null;
  quick: boolean;
}

const USAGE = `usage: npm run bench [-- OPTIONS]
  --hosts 50,200        fleet sizes (default 50,200)
  --fanout 32,64        concurrency of every fan-out (default 32,64)
  --reps 3              repetitions; figures are medians (default 3)
  --quick               50 hosts, 1 repetition, 100 SSM instances
  --only a,b            sections: ${SECTIONS.join(', ')}
  --tools a,b           tools: ${TOOLS.join(', ')}
  --ssm-hosts 500       instances of the SSM heartbeat
  --ops 200             operations per per-operation series
  --hosts-per-sshd 15   hosts one sshd process serves (at most 15: sshd listens on 16 sockets)
  --profile             CPU-profile our heartbeat runs (bench/results/profiles/)
  --out FILE            also write the JSON there`;

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined || value.trim() === '') throw new Error(`${flag} needs a value\n${USAGE}`);
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(text: string, flag: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < (allowZero ? 0 : 1))
    throw new Error(`${flag}: not a positive integer: ${text}`);
  return n;
}

/** Parses the command line; throws with the usage text on anything unknown. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    hosts: [50, 200],
    fanouts: [32, 64],
    reps: 3,
    sections: new Set(SECTIONS),
    tools: [...TOOLS],
    ssmHosts: 500,
    ssmFanouts: [64, 0],
    ops: 200,
    hostsPerSshd: 15,
    profile: false,
    out: null,
    quick: false,
  };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i]!;
    const value = () => argv[++i];
    given.add(flag);
    switch (flag) {
      case '--hosts':
        args.hosts = list(value(), flag).map((s) => positive(s, flag));
        break;
      case '--fanout':
        args.fanouts = list(value(), flag).map((s) => positive(s, flag));
        break;
      case '--reps':
        args.reps = positive(value() ?? '', flag);
        break;
      case '--quick':
        args.quick = true;
        break;
      case '--only':
        args.sections = new Set(
          list(value(), flag).map((s) => {
            if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section ${s}`);
            return s as Section;
          }),
        );
        break;
      case '--tools':
        args.tools = list(value(), flag).map((s) => {
          if (!(TOOLS as readonly string[]).includes(s)) throw new Error(`--tools: unknown tool ${s}`);
          return s as ToolName;
        });
        break;
      case '--ssm-hosts':
        args.ssmHosts = positive(value() ?? '', flag);
        break;
      case '--ops':
        args.ops = positive(value() ?? '', flag);
        break;
      case '--hosts-per-sshd':
        args.hostsPerSshd = positive(value() ?? '', flag);
        // sshd's MAX_LISTEN_SOCKS is 16, and the test support's sshd also listens on 127.0.0.1.
        if (args.hostsPerSshd > 15)
          throw new Error(`${flag}: at most 15 (sshd listens on 16 sockets at most)`);
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--out':
        args.out = value() ?? null;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  if (args.quick) {
    if (!given.has('--hosts')) args.hosts = [50];
    if (!given.has('--reps')) args.reps = 1;
    if (!given.has('--ssm-hosts')) args.ssmHosts = 100;
  }
  args.hosts = [...new Set(args.hosts)].sort((a, b) => a - b);
  // The SSM fan-outs follow the SSH ones: the largest, then every instance at once.
  args.ssmFanouts = [Math.max(...args.fanouts), 0];
  return args;
}
