/**
 * The Lambda bundles as deployed (dist/functions/<name>/: index.mjs and the chunks it loads with
 * import(), built by scripts/bundle.mjs): size on disk, all files, and module initialisation —
 * the time an `import()` of index.mjs takes in a fresh Node process, which is what a cold start
 * pays before the handler runs (what a handler loads on first use — the AWS SDK, ssh2 — is the
 * first invocation's). Also the CLI bundle's start (`--version`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { assetFiles, bundle, functionBuildOptions, ROOT } from '../scripts/bundle.mjs';
import { run } from './processes.ts';
import { median, percentile } from './stats.ts';

/** The CLI the checkout runs (an entry and its chunks) and the one file a server gets. */
const CLI_SPLIT = join(ROOT, 'dist', 'cli', 'cloudiq-bootstrap.mjs');
const CLI_FILE = join(ROOT, 'dist', 'cloudiq-bootstrap.mjs');

export interface BundleFigure {
  name: string;
  file: string;
  /** Every file of the asset (index.mjs and chunks/). */
  bytes: number;
  /** index.mjs alone, and how many files `bytes` counts. */
  entryBytes: number;
  files: number;
  /** Median over `samples` fresh processes. */
  initMs: number;
  samples: number;
  /** The spread of those samples: lowest, quartiles, highest. */
  initSpread: { min: number; p25: number; p75: number; max: number };
  /** Whether the bundle imports `@aws-sdk/*` from the runtime instead of carrying it. */
  externalSdk: boolean;
  /** What the bytes are: the biggest packages (or our source dirs) in the bundle. */
  largest: Array<{ part: string; bytes: number }>;
}

/** `node_modules/@scope/pkg/…` → `@scope/pkg`, `lib/host/x.ts` → `lib/host`. */
function partOf(input: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (nm) return nm[1]!;
  return input.split('/').slice(0, 2).join('/');
}

/**
 * The bundle's make-up, from esbuild's metafile of the very build scripts/bundle.mjs makes for a
 * function (the SDK external when the built one has it so), written nowhere.
 */
async function composition(name: string, externalSdk: boolean): Promise<BundleFigure['largest']> {
  const result = await build({
    ...functionBuildOptions(name, join(ROOT, 'dist', 'functions', name), externalSdk),
    logLevel: 'silent',
    write: false,
    metafile: true,
  });
  const parts = new Map<string, number>();
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const part = partOf(input);
      parts.set(part, (parts.get(part) ?? 0) + bytesInOutput);
    }
  }
  return [...parts]
    .map(([part, bytes]) => ({ part, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 8);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function bundles(): Array<{ name: string; file: string }> {
  const dir = join(ROOT, 'dist', 'functions');
  try {
    // dist/functions also holds tsc's output (`npm run build`): only folders with an index.mjs are bundles.
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => ({ name: entry.name, file: join(dir, entry.name, 'index.mjs') }))
      .filter((b) => statSync(b.file, { throwIfNoEntry: false })?.isFile());
  } catch {
    return [];
  }
}

/** Builds dist/ with scripts/bundle.mjs when a bundle is missing or older than the sources. */
export async function ensureBundles(): Promise<{ rebuilt: boolean }> {
  const sources = Math.max(
    ...['lib', 'functions', 'infra'].map((d) => {
      try {
        return newestMtime(join(ROOT, d));
      } catch {
        return 0;
      }
    }),
  );
  const present = bundles();
  const clis = [CLI_SPLIT, CLI_FILE].map((file) => statSync(file, { throwIfNoEntry: false }));
  const stale =
    present.length === 0 ||
    clis.some((cli) => !cli || cli.mtimeMs < sources) ||
    present.some((b) => statSync(b.file).mtimeMs < sources);
  if (stale) await bundle();
  return { rebuilt: stale };
}

async function importTime(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const url = pathToFileURL(file).href;
  const script = `const t = performance.now(); await import(${JSON.stringify(url)}); process.stdout.write(String(performance.now() - t));`;
  const finished = await run(process.execPath, ['--input-type=module', '-e', script], { env });
  if (finished.code !== 0) throw new Error(`importing ${file} failed: ${finished.stderr.slice(-1500)}`);
  return Number(finished.stdout.trim());
}

/**
 * Size and module init time of every function bundle, and the CLI's start to exit. The samples
 * are taken round-robin over the bundles after one unmeasured import each (the page cache warm),
 * so a burst of other work on the machine falls on every bundle alike rather than on one.
 */
export async function measureBundles(
  samples = 15,
): Promise<{ functions: BundleFigure[]; cliStartMs: number; cliFileStartMs: number }> {
  await ensureBundles();
  const found = bundles();
  // What a Lambda environment has at init: a region, the function's name, no credentials needed yet.
  const envOf = (name: string) => ({
    PATH: process.env['PATH'] ?? '',
    AWS_REGION: 'eu-west-1',
    AWS_LAMBDA_FUNCTION_NAME: name,
  });
  const times = new Map(found.map((b) => [b.name, [] as number[]]));
  for (const { name, file } of found) await importTime(file, envOf(name));
  for (let i = 0; i < samples; i += 1)
    for (const { name, file } of found) times.get(name)!.push(await importTime(file, envOf(name)));
  const functions: BundleFigure[] = [];
  for (const { name, file } of found) {
    const t = times.get(name)!;
    // An import statement of the SDK (not the word in one of its messages) means it was left out;
    // the EC2 client always is (scripts/bundle.mjs).
    const sdkImport =
      /(?:\}|\*\s*as\s+[\w$]+\s+)from\s*"@aws-sdk\/(?!client-ec2")|import\("@aws-sdk\/(?!client-ec2")/;
    const files = assetFiles(join(file, '..'));
    const externalSdk = files.some((part) => sdkImport.test(readFileSync(part, 'utf8')));
    functions.push({
      name,
      file: relative(ROOT, file),
      bytes: files.reduce((sum, part) => sum + statSync(part).size, 0),
      entryBytes: statSync(file).size,
      files: files.length,
      initMs: median(t),
      samples,
      initSpread: {
        min: Math.min(...t),
        p25: percentile(t, 25),
        p75: percentile(t, 75),
        max: Math.max(...t),
      },
      externalSdk,
      largest: await composition(name, externalSdk).catch(() => []),
    });
  }
  // Round-robin too: the split CLI the checkout runs, and the one file a server gets.
  const starts: number[] = [];
  const fileStarts: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    starts.push((await run(process.execPath, [CLI_SPLIT, '--version'])).wallMs);
    fileStarts.push((await run(process.execPath, [CLI_FILE, '--version'])).wallMs);
  }
  return { functions, cliStartMs: median(starts), cliFileStartMs: median(fileStarts) };
}
