// Types of scripts/bundle.mjs for the TypeScript that imports it (infra/app.ts, test/infra).
import type { Plugin } from 'esbuild';

export declare const ROOT: string;
/** The prologue ESM bundles carry for their CommonJS dependencies (require, __dirname). */
export declare const REQUIRE_BANNER: string;
export declare const FUNCTION_NAMES: string[];
export declare const inlinePlugin: Plugin;

export interface BundleOptions {
  /** Output directory, relative to the repository; default `dist`. */
  outdir?: string;
  /** Build the CLI, dist/cloudiq-bootstrap.mjs and dist/cli/; default true. */
  cli?: boolean;
  /** Functions to build (those whose functions/<name>.ts exists); default all four. */
  functions?: string[];
  skipFunctions?: boolean;
  /** Leave `@aws-sdk/*` to the Lambda runtime's SDK instead of bundling it; default false. */
  externalSdk?: boolean;
}

export interface BundleOutput {
  /** `cli` (one file), `cli-split` (dist/cli/) or a function's name. */
  name: string;
  /** The entry: dist/cloudiq-bootstrap.mjs, dist/cli/cloudiq-bootstrap.mjs, or a function's index.mjs. */
  file: string;
  /** All of it: for a split build, its whole folder (the entry and chunks/). */
  bytes: number;
  /** A split build's entry alone: what a start parses first. */
  entryBytes?: number;
  /** How many files `bytes` counts. */
  files?: number;
}

/** The CLI's program (main() with the process's arguments). */
export declare const CLI_ENTRY: string;

/** esbuild's options for a CLI program: one file with `outfile`, an entry and chunks/ with `outdir`. */
export declare function cliBuildOptions(
  entry: string,
  out:
    | { outfile: string; outdir?: undefined; name?: string }
    | { outdir: string; outfile?: undefined; name?: string },
): import('esbuild').BuildOptions;

/** Every file of a function's asset folder (index.mjs and its chunks). */
export declare function assetFiles(dir: string): string[];

export declare function bundle(options?: BundleOptions): Promise<BundleOutput[]>;
export declare function functionBuildOptions(
  name: string,
  dir: string,
  externalSdk?: boolean,
): import('esbuild').BuildOptions;
