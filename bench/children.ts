/**
 * Our measured runs are bundled with esbuild as scripts/bundle.mjs bundles the CLI (same plugin:
 * the host prelude inlined, ssh2's native add-ons left out), then run with plain `node`: no
 * TypeScript loader in the process, so its startup, CPU and RSS are those of the code that ships.
 * heartbeat-run.ts is split into an entry and chunks, as dist/cli/ (what the checkout's command
 * runs) is; the bare ssh2 floor imports nothing lazily, so one file is the whole of it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { cliBuildOptions, ROOT } from '../scripts/bundle.mjs';
import { jsonResult, run } from './processes.ts';

export interface Children {
  heartbeat: string;
  floor: string;
}

/** Bundles both runners into `outdir`. */
export async function buildChildren(outdir: string): Promise<Children> {
  const heartbeatDir = join(outdir, 'heartbeat');
  const out = { heartbeat: join(heartbeatDir, 'heartbeat-run.mjs'), floor: join(outdir, 'floor-run.mjs') };
  rmSync(heartbeatDir, { recursive: true, force: true });
  await build(
    cliBuildOptions(join(ROOT, 'bench', 'heartbeat-run.ts'), { outdir: heartbeatDir, name: 'heartbeat-run' }),
  );
  await build(cliBuildOptions(join(ROOT, 'bench', 'floor-run.ts'), { outfile: out.floor }));
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
