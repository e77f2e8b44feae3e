/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and says where the time went: self time per
 * function, and per bucket (ssh2's protocol and crypto, our code, the AWS SDK and other
 * dependencies, Node internals, garbage collection, idle), so a missed target has a measured cause.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  buckets: Array<{ bucket: string; ms: number; share: number }>;
  top: Array<{ fn: string; where: string; ms: number; share: number }>;
}

/**
 * Where each module of an unminified esbuild bundle starts: esbuild writes `// path/to/module.js`
 * before each one, so a line number of the bundle names its source module.
 */
function moduleMap(url: string): (line: number) => string {
  let starts: Array<{ line: number; path: string }> = [];
  try {
    const lines = readFileSync(fileURLToPath(url), 'utf8').split('\n');
    lines.forEach((text, i) => {
      const match = /^\/\/ ((?:node_modules|lib|bench|test|functions|scripts)\/\S+)$/.exec(text);
      if (match) starts.push({ line: i, path: match[1]! });
    });
  } catch {
    starts = [];
  }
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.path;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** Which part of the process a call frame belongs to. */
function bucketOf(frame: ProfileNode['callFrame'], module: string): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'garbage collection';
  if (fn === '(program)' || url === '') return 'native (program)';
  if (url.startsWith('node:')) return 'Node internals';
  if (module.startsWith('node_modules/ssh2/')) return 'ssh2';
  if (/^node_modules\/(@aws-sdk|@smithy|@aws-crypto)\//.test(module)) return 'AWS SDK';
  if (module.startsWith('node_modules/')) return `other dependencies`;
  if (module.startsWith('lib/')) return 'ours (lib/)';
  return module === '' ? 'unattributed JS' : module;
}

/** Summarises one profile: buckets and the `top` functions by self time. */
export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const buckets = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; ms: number }>();
  const maps = new Map<string, (line: number) => string>();
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    let map = maps.get(frame.url);
    if (!map) {
      map = frame.url.startsWith('file:') ? moduleMap(frame.url) : () => '';
      maps.set(frame.url, map);
    }
    const module = map(frame.lineNumber);
    const bucket = bucketOf(frame, module);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + ms);
    const where = module ? module.replace(/^node_modules\//, '') : frame.url.replace(/^.*\//, '');
    const key = `${frame.functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: frame.functionName || '(anonymous)', where, ms: 0 };
    entry.ms += ms;
    fns.set(key, entry);
  }
  const share = (ms: number) => ms / totalMs;
  return {
    file,
    totalMs,
    buckets: [...buckets]
      .map(([bucket, ms]) => ({ bucket, ms, share: share(ms) }))
      .sort((a, b) => b.ms - a.ms),
    top: [...fns.values()]
      .filter((f) => f.fn !== '(idle)')
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((f) => ({ ...f, share: share(f.ms) })),
  };
}
