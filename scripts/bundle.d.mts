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
  file: string;
  bytes: number;
}

export declare function bundle(options?: BundleOptions): Promise<BundleOutput[]>;
