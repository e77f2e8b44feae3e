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
  /** Build dist/cloudiq-bootstrap.mjs; default true. */
  cli?: boolean;
  /** Functions to build (those whose functions/<name>.ts exists); default all four. */
  functions?: string[];
  skipFunctions?: boolean;
  /** Leave `@aws-sdk/*` to the Lambda runtime's SDK instead of bundling it; default false. */
  externalSdk?: boolean;
}

export interface BundleOutput {
  name: string;
  /** The entry: dist/cloudiq-bootstrap.mjs, or a function's index.mjs. */
  file: string;
  /** All of it: for a function, its whole asset folder (index.mjs and chunks/). */
  bytes: number;
  /** A function's index.mjs alone: what a cold start parses. */
  entryBytes?: number;
  /** How many files `bytes` counts. */
  files?: number;
}

/** Every file of a function's asset folder (index.mjs and its chunks). */
export declare function assetFiles(dir: string): string[];

export declare function bundle(options?: BundleOptions): Promise<BundleOutput[]>;
export declare function functionBuildOptions(
  name: string,
  dir: string,
  externalSdk?: boolean,
): import('esbuild').BuildOptions;
