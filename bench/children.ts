/**
 * Our measured runs (heartbeat-run.ts, floor-run.ts) are bundled with esbuild exactly as
 * scripts/bundle.mjs bundles the CLI (same plugin: the host prelude inlined, ssh2's native
 * add-ons left out), then run with plain `node`: no TypeScript loader in the process, so its
 * startup, CPU and RSS are those of the code that ships.
 */
import { join } from 'node:path';
import { build } from 'esbuild';
import { inlinePlugin, REQUIRE_BANNER, ROOT } from '../scripts/bundle.mjs';
import { jsonResult, run } from './processes.ts';

export interface Children {
  heartbeat: string;
  floor: string;
}

/** Bundles both runners into `outdir`. */
export async function buildChildren(outdir: string): Promise<Children> {
  const out = { heartbeat: join(outdir, 'heartbeat-run.mjs'), floor: join(outdir, 'floor-run.mjs') };
  for (const [name, outfile] of [
    ['heartbeat-run', out.heartbeat],
    ['floor-run', out.floor],
  ] as const) {
    await build({
      entryPoints: [join(ROOT, 'bench', `${name}.ts`)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      plugins: [inlinePlugin],
      banner: { js: REQUIRE_BANNER },
      legalComments: 'none',
      logLevel: 'warning',
      absWorkingDir: ROOT,
    });
  }
  return out;
}

/** Runs one bundled runner with its JSON argument; resolves to its JSON and the process's wall time. */
export async function runChild<T>(
  file: string,
  argument: unknown,
  nodeArgs: readonly string[] = [],
): Promise<T & { processWallMs: number }> {
  const finished = await run(process.execPath, [...nodeArgs, file, JSON.stringify(argument)]);
  return { ...jsonResult<T>(finished, file), processWallMs: finished.wallMs };
}
