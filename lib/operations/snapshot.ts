import { createHash } from 'node:crypto';
import { type BootstrapConfig, parseBootstrapConfig } from '../config/bootstrap-config.ts';
import { BootstrapError } from '../errors.ts';
import { runWithHostCode } from '../host/host-code.ts';
import { type FileState, type HostAnswer, hostError, parseAnswer } from '../host/parse.ts';
import { type Expectation, type ReadPlan, renderRead } from '../host/programs.ts';
import { present } from '../optional.ts';
import { type ProductFile, parseProductIni, parseServerIni, type ServerState } from './state.ts';
import type { HostTarget, RunOptions } from './target.ts';

/**
 * A file's record as lib/host/parse.ts gives it, or `unreadable`: the host found a regular file
 * but could not read it (`@file NAME b64 !`, prelude.sh `b_flush`: permissions, an I/O error).
 */
export type FileRecord = FileState | { kind: 'unreadable' };

/** What one read of a host found: the parsed config, the state files and their hashes. */
export interface Snapshot {
  answer: HostAnswer;
  config: BootstrapConfig;
  server: ServerState;
  products: Map<string, ProductFile>;
  /** For the plan's `b_expect_unchanged`: each file read, with its hash (null when absent). */
  expectations: Map<string, Expectation>;
}

/**
 * Runs one program on the host and reads its records. The program goes relying on the host's
 * cached code (SPEC 2.2 `lib/`), and whole when the host cannot use it (lib/host/host-code.ts).
 */
export async function execProgram(
  host: HostTarget,
  program: string,
  options: RunOptions = {},
  how: { readsOnly?: boolean } = {},
): Promise<HostAnswer> {
  // One time limit for the exchange: a fallback after `@hostcode absent` gets what is left of it.
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  const result = await runWithHostCode(host.transport, host.stateDir, program, (text) =>
    host.transport.exec({
      program: text,
      ...present({
        readsOnly: how.readsOnly,
        timeoutMs: deadline === undefined ? undefined : Math.max(1, deadline - Date.now()),
        signal: options.signal,
      }),
    }),
  );
  const answer = parseAnswer(host.name, result);
  if (
    !answer.ended &&
    answer.locked === undefined &&
    !answer.conflict &&
    !answer.error &&
    answer.ok === undefined
  ) {
    throw new BootstrapError(
      'INTERNAL',
      `${host.name}: the host program ended early (exit ${result.exitCode})`,
      {
        server: host.name,
        exitCode: result.exitCode,
        stderr: answer.stderr,
      },
    );
  }
  if (answer.error) throw hostError(host.name, answer.error, answer.stderr, host.stateDir);
  return answer;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export const productPath = (host: HostTarget, product: string) => `${host.stateDir}/products/${product}.ini`;
export const serverPath = (host: HostTarget) => `${host.stateDir}/server.ini`;
export const journalPath = (host: HostTarget, operationId: string) =>
  `${host.stateDir}/operations/${operationId}.json`;

/** Reads the host (one round trip) and parses bootstrap.ini; a missing or bad one is `CONFIG_ERROR`. */
export async function readSnapshot(
  host: HostTarget,
  plan: ReadPlan,
  options: RunOptions = {},
): Promise<Snapshot> {
  const answer = await execProgram(host, renderRead(host, plan), options, {
    readsOnly: plan.checks !== true,
  });
  const snapshot = snapshotFrom(host, answer, plan.products);
  options.onConfig?.(snapshot.config);
  return snapshot;
}

/**
 * The snapshot of one read's answer. With `read` (the products a restricted read asked for), only
 * those products are in `products` and `expectations`: a product not read is never taken for absent.
 */
export function snapshotFrom(host: HostTarget, answer: HostAnswer, read?: readonly string[]): Snapshot {
  const expectations = new Map<string, Expectation>();
  const text = (name: string, path: string): string | null => {
    const file = answer.files.get(name) as FileRecord | undefined;
    if (!file || file.kind === 'absent') {
      expectations.set(name, { path, sha256: null });
      return null;
    }
    if (file.kind === 'notfile') {
      throw new BootstrapError('CONFIG_ERROR', `${host.name}: ${path} is not a regular file`, {
        server: host.name,
        file: path,
        section: null,
        key: null,
      });
    }
    if (file.kind === 'unreadable') {
      // SPEC 2.6: the file the operation depends on is there but unusable, like a malformed one.
      throw new BootstrapError(
        'CONFIG_ERROR',
        `${host.name}: ${path} exists but cannot be read (permissions, or an I/O error)`,
        { server: host.name, file: path, section: null, key: null, reason: 'unreadable' },
      );
    }
    // A file read in part has no hash to plan a write from: `expect` refuses to plan from it.
    if (!file.stateOnly) expectations.set(name, { path, sha256: sha256(file.data) });
    return file.data.toString('utf8');
  };

  const configText = text('config', host.configPath);
  if (configText === null) {
    throw new BootstrapError('CONFIG_ERROR', `${host.configPath}: not found on ${host.name}`, {
      server: host.name,
      file: host.configPath,
      section: null,
      key: null,
    });
  }
  const config = parseBootstrapConfig(configText, host.configPath);
  const server = parseServerIni(text('server', serverPath(host)));
  const products = new Map<string, ProductFile>();
  for (const name of Object.keys(config.products)) {
    if (read && !read.includes(name)) continue;
    const path = productPath(host, name);
    products.set(name, parseProductIni(text(`product:${name}`, path), path));
  }
  return { answer, config, server, products, expectations };
}

/** The expectations for the named files (`config`, `server`, `product:NAME`). */
export function expect(snapshot: Snapshot, ...names: string[]): Expectation[] {
  return names.map((name) => {
    const expectation = snapshot.expectations.get(name);
    if (!expectation) throw new BootstrapError('INTERNAL', `no reading of ${name} to plan from`);
    return expectation;
  });
}
