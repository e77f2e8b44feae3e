/**
 * `npm run bench [-- --hosts 50,200] [--reps 3] [--fanout 32,64] [--quick] [--rtt 50ms] [--only …]`:
 * what to measure and how often. Defaults measure every target: 50 and 200 hosts, fan-out 32 and
 * 64, three repetitions, every section and every tool, and a latency pass at 50 ms of RTT.
 */

export const SECTIONS = ['heartbeat', 'floor', 'tools', 'rtt', 'forks', 'perop', 'ssm', 'lambda'] as const;
export type Section = (typeof SECTIONS)[number];

export const TOOLS = ['pdsh', 'pdsh-curve25519', 'parallel-ssh', 'ansible'] as const;
export type ToolName = (typeof TOOLS)[number];

export interface BenchArgs {
  hosts: number[];
  fanouts: number[];
  reps: number;
  sections: Set<Section>;
  tools: ToolName[];
  /** Round-trip time of the latency pass, in ms (0: no latency pass). */
  rttMs: number;
  /** Instances of the SSM heartbeat. */
  ssmHosts: number;
  /** Fan-outs of the SSM heartbeat (`0` = every instance at once). */
  ssmFanouts: number[];
  /** Operations per per-operation series. */
  ops: number;
  /** Fresh processes per Lambda bundle for its module-init median. */
  initSamples: number;
  /** Hosts served by one sshd process (each on its own 127.0.x.y address); sshd allows 16 listen sockets. */
  hostsPerSshd: number;
  /** Write a CPU profile of every heartbeat run of ours and summarise it. */
  profile: boolean;
  /** Where the JSON goes besides bench/results/latest.json. */
  out: string | null;
  quick: boolean;
}

export type ParsedArgs = { kind: 'help'; usage: string } | { kind: 'run'; args: BenchArgs };

/** Bad command line: one line to print, exit status 2. */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

export const USAGE = `usage: npm run bench [-- OPTIONS]
  --hosts 50,200        fleet sizes (default 50,200)
  --fanout 32,64        concurrency of every fan-out (default 32,64)
  --reps 3              repetitions; figures are medians (default 3)
  --quick               20 hosts, fan-out 32, 1 repetition, 100 SSM instances, 9 init samples
  --rtt 50ms            RTT of the latency pass through the delay proxy (0 or off: none; default 50ms)
  --only a,b            sections: ${SECTIONS.join(', ')}
  --tools a,b           tools: ${TOOLS.join(', ')}
  --ssm-hosts 500       instances of the SSM heartbeat
  --ops 200             operations per per-operation series
  --init-samples 15     fresh processes per Lambda bundle for the module-init median
  --hosts-per-sshd 15   hosts one sshd process serves (at most 15: sshd listens on 16 sockets)
  --profile             CPU-profile our heartbeat runs (bench/results/profiles/)
  --out FILE            also write the JSON there
  --help, -h            this text`;

function list(value: string | undefined, flag: string): string[] {
  if (value === undefined || value.trim() === '' || value.startsWith('--'))
    throw new BenchArgsError(`${flag} needs a value`);
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(text: string | undefined, flag: string): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isSafeInteger(n) || n < 1)
    throw new BenchArgsError(`${flag}: not a positive integer: ${text ?? '(nothing)'}`);
  return n;
}

/** `50ms`, `0.05s`, `50` (ms), `0` or `off` → milliseconds. */
export function parseDuration(text: string | undefined, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text?.trim() ?? '');
  if (text?.trim() === 'off') return 0;
  if (!m) throw new BenchArgsError(`${flag}: not a duration (e.g. 50ms): ${text ?? '(nothing)'}`);
  const ms = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
  if (ms > 10_000) throw new BenchArgsError(`${flag}: at most 10s`);
  return ms;
}

function oneOf<T extends string>(values: readonly T[], text: string, flag: string): T {
  if (!(values as readonly string[]).includes(text))
    throw new BenchArgsError(`${flag}: unknown ${text} (one of ${values.join(', ')})`);
  return text as T;
}

/** Parses the command line: `--help` asks for the usage; anything unknown throws BenchArgsError. */
export function parseBenchArgs(argv: readonly string[]): ParsedArgs {
  const args: BenchArgs = {
    hosts: [50, 200],
    fanouts: [32, 64],
    reps: 3,
    sections: new Set(SECTIONS),
    tools: [...TOOLS],
    rttMs: 50,
    ssmHosts: 500,
    ssmFanouts: [64, 0],
    ops: 200,
    initSamples: 15,
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
        args.reps = positive(value(), flag);
        break;
      case '--quick':
        args.quick = true;
        break;
      case '--rtt':
        args.rttMs = parseDuration(value(), flag);
        break;
      case '--only':
        args.sections = new Set(list(value(), flag).map((s) => oneOf(SECTIONS, s, flag)));
        break;
      case '--tools':
        args.tools = list(value(), flag).map((s) => oneOf(TOOLS, s, flag));
        break;
      case '--ssm-hosts':
        args.ssmHosts = positive(value(), flag);
        break;
      case '--ops':
        args.ops = positive(value(), flag);
        break;
      case '--init-samples':
        args.initSamples = positive(value(), flag);
        break;
      case '--hosts-per-sshd':
        args.hostsPerSshd = positive(value(), flag);
        // sshd's MAX_LISTEN_SOCKS is 16, and the test support's sshd also listens on 127.0.0.1.
        if (args.hostsPerSshd > 15)
          throw new BenchArgsError(`${flag}: at most 15 (sshd listens on 16 sockets)`);
        break;
      case '--profile':
        args.profile = true;
        break;
      case '--out': {
        const out = value();
        if (out === undefined || out.startsWith('--')) throw new BenchArgsError(`${flag} needs a file`);
        args.out = out;
        break;
      }
      case '--help':
      case '-h':
        return { kind: 'help', usage: USAGE };
      default:
        throw new BenchArgsError(`unknown option ${flag}`);
    }
  }
  if (args.quick) {
    if (!given.has('--hosts')) args.hosts = [20];
    if (!given.has('--fanout')) args.fanouts = [32];
    if (!given.has('--reps')) args.reps = 1;
    if (!given.has('--ssm-hosts')) args.ssmHosts = 100;
    if (!given.has('--ops')) args.ops = 50;
    if (!given.has('--init-samples')) args.initSamples = 9;
  }
  if (args.rttMs === 0) args.sections.delete('rtt');
  args.hosts = [...new Set(args.hosts)].sort((a, b) => a - b);
  args.fanouts = [...new Set(args.fanouts)];
  // SPEC's SSM target: fan-out 64 and every instance at once.
  args.ssmFanouts = [64, 0];
  return { kind: 'run', args };
}
