#!/usr/bin/env node
// Self-contained bundles with esbuild's JS API: dist/cloudiq-bootstrap.mjs (the CLI in one file,
// to copy to a server), dist/cli/ (the same CLI as an entry and the chunks/ it loads on first use:
// what the checkout's bin/cloudiq-bootstrap.js runs) and dist/functions/<name>/ (likewise split:
// one Lambda asset each, what infra/ deploys).
//
// One bundler for both on purpose: the bytes the tests load are the bytes that are deployed, and
// two things need a plugin, which CDK's NodejsFunction (esbuild's CLI) cannot take:
// - lib/host/shell-source.ts reads prelude.sh beside itself at run time; here it becomes a module
//   that holds the text, so a bundle needs no file next to it;
// - ssh2's native add-ons (sshcrypto.node, cpu-features) are built for this machine, not for
//   Lambda's arm64. They become modules that throw, which ssh2 catches (it requires them in
//   try/catch) and then uses its pure-JS ciphers over node:crypto.
// - bowser, a browser user-agent parser (37 kB): the AWS SDK's core re-exports its browser
//   user-agent code, which imports bowser only when it runs in a browser. It becomes a module that
//   throws too; in Node nothing imports it.
//
// `node scripts/bundle.mjs [--outdir DIR] [--no-cli] [--no-functions] [--external-sdk]`; `bundle()` is the same
// for code (infra/app.ts and the infra tests call it).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda handlers: functions/<name>.ts, each exporting `handler`. */
export const FUNCTION_NAMES = ['api', 'worker', 'heartbeat', 'batch-upgrade', 'console'];

// CommonJS dependencies (ssh2, ini) inside an ESM bundle still call require() for node builtins
// and read __dirname at load time.
export const REQUIRE_BANNER = [
  "import { createRequire as __cjsRequire } from 'node:module';",
  "import { fileURLToPath as __cjsPath } from 'node:url';",
  "import { dirname as __cjsDirname } from 'node:path';",
  'const require = __cjsRequire(import.meta.url);',
  'const __filename = __cjsPath(import.meta.url);',
  'const __dirname = __cjsDirname(__filename);',
].join(' ');

/** esbuild plugin: inline the sh prelude and stub the native add-ons and bowser (see the header). */
export const inlinePlugin = {
  name: 'cloudiq-inline',
  setup(b) {
    b.onLoad({ filter: /[\\/]lib[\\/]host[\\/]shell-source\.ts$/ }, () => {
      const prelude = readFileSync(join(ROOT, 'lib', 'host', 'prelude.sh'), 'utf8');
      return { contents: `export const PRELUDE = ${JSON.stringify(prelude)};\n`, loader: 'ts' };
    });
    // The fleet console's files (lib/console/sources.ts): the console function serves them from
    // its bundle (the API's, whose handler `serve` runs, carries them too), stored gzipped (one
    // base64 blob, a third of their ~70 kB) and unpacked on the first request for any of them;
    // the texts served are the files' own, byte for byte.
    b.onLoad({ filter: /[\\/]lib[\\/]console[\\/]sources\.ts$/ }, () => {
      const dir = join(ROOT, 'lib', 'console', 'assets');
      const files = Object.fromEntries(
        readdirSync(dir)
          .filter((name) => !name.endsWith('.d.ts'))
          .sort()
          .map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
      );
      const packed = gzipSync(JSON.stringify(files), { level: 9 }).toString('base64');
      const contents = [
        "import { gunzipSync } from 'node:zlib';",
        `const PACKED = ${JSON.stringify(packed)};`,
        'let files;',
        "const unpack = () => (files ??= JSON.parse(gunzipSync(Buffer.from(PACKED, 'base64')).toString('utf8')));",
        'const sources = {};',
        // Getters keep the names enumerable (the routes are listed from them) and unpack on first read.
        `for (const name of ${JSON.stringify(Object.keys(files))}) {`,
        '  Object.defineProperty(sources, name, { enumerable: true, get: () => unpack()[name] });',
        '}',
        'export const CONSOLE_SOURCES = Object.freeze(sources);',
      ].join('\n');
      return { contents, loader: 'js' };
    });
    b.onResolve({ filter: /(\.node$|^cpu-features$|^bowser$)/ }, (args) => ({
      path: args.path,
      namespace: 'native-stub',
    }));
    b.onLoad({ filter: /.*/, namespace: 'native-stub' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not bundled (a native add-on, or code for browsers)`)});`,
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  plugins: [inlinePlugin],
  banner: { js: REQUIRE_BANNER },
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: ROOT,
};

/**
 * esbuild's options for one function into `dir` (index.mjs and chunks/): bench/lambda.ts builds
 * the same to see what the bytes are.
 */
export function functionBuildOptions(name, dir, externalSdk = false) {
  return {
    ...common,
    entryPoints: { index: join(ROOT, 'functions', `${name}.ts`) },
    outdir: dir,
    // What the handlers load with import() only where first used (the AWS SDK, Powertools, the
    // SSH transport and ssh2, the SSM transport) goes to chunks/ beside index.mjs, in the same
    // asset: a cold start parses index.mjs and its shared chunks alone. In one file esbuild would
    // wrap those modules to run them lazily, but keep every export of each (the SDK grew by a
    // quarter, past 1.5 MB).
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    target: 'node22',
    minify: true,
    // Keeps the module's exports and class names readable in stack traces.
    keepNames: true,
    mainFields: ['module', 'main'],
    // The EC2 client (1.1 MB, untree-shakeable schemas) serves only inventories with `kind = ec2`
    // sources, and only through import(): Lambda's Node.js runtime provides it then.
    external: externalSdk ? ['@aws-sdk/*'] : ['@aws-sdk/client-ec2'],
  };
}

/** The CLI's program (main() with the process's arguments). */
export const CLI_ENTRY = join(ROOT, 'lib', 'cli', 'entry.ts');

/**
 * esbuild's options for a CLI program from `entry` (the CLI's own, or the bench's fleet runner):
 * with `outfile`, one self-contained file; with `outdir`, `<name>.mjs` and chunks/ beside it,
 * which it loads on first use. In one file, the code reached only through import() (the SSM SDK,
 * the SSH transport, every command's own modules) is still parsed at every start; split, a start
 * parses only what it runs: `--version` took 151 ms instead of 217 (hyperfine, this repository's
 * 2-core machine), and a 200-host heartbeat 0.55 ms less CPU per host. Code split this way must
 * load a package lazily only through a module of its own (test/architecture.test.ts says why).
 */
export function cliBuildOptions(entry, { outfile, outdir, name = 'cloudiq-bootstrap' }) {
  return {
    ...common,
    ...(outdir
      ? {
          entryPoints: { [name]: entry },
          outdir,
          splitting: true,
          chunkNames: 'chunks/[name]-[hash]',
          outExtension: { '.js': '.mjs' },
        }
      : { entryPoints: [entry], outfile }),
    target: 'node20',
    banner: { js: `#!/usr/bin/env node\n${REQUIRE_BANNER}` },
    // 2.4 MB that only `kind = ec2` inventory sources load (through import()): not parsed at every start.
    external: ['@aws-sdk/client-ec2'],
  };
}

/**
 * Builds the CLI and every function whose entry exists; resolves to what was written, with sizes.
 * The AWS SDK is bundled from its ESM builds (`mainFields: module`), which esbuild tree-shakes:
 * a function is then 1.3–1.4 MB in all, of which a cold start loads 0.15–0.25 MB (index.mjs and
 * its shared chunks, the SDK not among them), where leaving the SDK to Lambda's runtime
 * (`--external-sdk`) loads hundreds of its files on first use. The functions also run the SDK
 * version the tests ran against.
 */
export async function bundle(options = {}) {
  const outdir = resolve(ROOT, options.outdir ?? 'dist');
  const names = options.functions ?? FUNCTION_NAMES;
  const written = [];
  if (options.cli !== false) {
    const outfile = join(outdir, 'cloudiq-bootstrap.mjs');
    await build(cliBuildOptions(CLI_ENTRY, { outfile }));
    chmodSync(outfile, 0o755);
    written.push({ name: 'cli', file: outfile, bytes: statSync(outfile).size, files: 1 });
    const dir = join(outdir, 'cli');
    // The folder is the split CLI's whole: no chunk of an earlier build may stay in it.
    rmSync(dir, { recursive: true, force: true });
    await build(cliBuildOptions(CLI_ENTRY, { outdir: dir }));
    const entry = join(dir, 'cloudiq-bootstrap.mjs');
    chmodSync(entry, 0o755);
    const files = assetFiles(dir);
    written.push({
      name: 'cli-split',
      file: entry,
      bytes: files.reduce((sum, file) => sum + statSync(file).size, 0),
      entryBytes: statSync(entry).size,
      files: files.length,
    });
  }
  for (const name of options.skipFunctions ? [] : names) {
    const entry = join(ROOT, 'functions', `${name}.ts`);
    if (!existsSync(entry)) continue;
    const dir = join(outdir, 'functions', name);
    // The folder is the function's whole asset: no chunk of an earlier build may stay in it.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, 'index.mjs');
    await build(functionBuildOptions(name, dir, options.externalSdk === true));
    const files = assetFiles(dir);
    written.push({
      name,
      file: outfile,
      bytes: files.reduce((sum, file) => sum + statSync(file).size, 0),
      entryBytes: statSync(outfile).size,
      files: files.length,
    });
  }
  return written;
}

/** Every file of a function's asset folder (index.mjs and its chunks). */
export function assetFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name))
    .sort();
}

function parseArgs(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--outdir') options.outdir = argv[++i];
    else if (arg === '--no-cli') options.cli = false;
    else if (arg === '--no-functions') options.skipFunctions = true;
    else if (arg === '--external-sdk') options.externalSdk = true;
    else throw new Error(`bundle.mjs: unknown argument ${arg}`);
  }
  return options;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = await bundle(parseArgs(process.argv.slice(2)));
  for (const { file, bytes, files } of written) {
    const parts = files > 1 ? ` (${files} files)` : '';
    process.stdout.write(`${relative(process.cwd(), file)}  ${(bytes / 1024).toFixed(1)} KiB${parts}\n`);
  }
}
