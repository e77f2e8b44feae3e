import { createHash } from 'node:crypto';
import { BootstrapError } from '../errors.ts';
import { renderHeader } from './host-code.ts';
import { PLAN_TAG, renderLongStart } from './kept-code.ts';
import { b64, shq } from './quote.ts';

/** Marks where the host writes its own time into a file (\001 never appears in a valid value). */
export const NOW_MARKER = '\u0001NOW\u0001';

export interface HostPaths {
  configPath: string;
  stateDir: string;
}

export interface ReadPlan {
  /** Report the lock's record and whether its holder runs. */
  lock?: boolean;
  /** Dump this operation's journal. */
  journalId?: string;
  /** Dump the most recently written journal (heartbeat's lastOperation). */
  newestJournal?: boolean;
  /** Run heartbeat.appstack's plan if one is kept for bootstrap.ini and server.ini as they are. */
  checks?: boolean;
  /** Read only these products' files (default: every file in products/). */
  products?: readonly string[];
  /** Of every product's file, only its [state] section (heartbeat.get needs no config values). */
  productState?: boolean;
}

/** A file the program will replace atomically; `content` may hold NOW_MARKER. */
export interface FileWrite {
  path: string;
  content: string;
}

/** A file the plan was made from: the program refuses to go on (`@conflict`) if it changed since. */
export interface Expectation {
  path: string;
  sha256: string | null;
}

/** Paths and host code, self-contained; sent relying on the host's cached code when it can (host-code.ts). */
function header(paths: HostPaths, options: { plan?: boolean } = {}): string {
  return renderHeader(paths, options);
}

/** The read-only program: the same text for every host that shares the paths and plan. */
export function renderRead(paths: HostPaths, plan: ReadPlan = {}): string {
  const lines = [
    'b_emit "@bootstrap 1"',
    'b_facts',
    'b_dump config "$B_CONFIG"',
    'b_dump server "$B_STATE/server.ini"',
  ];
  if (plan.products === undefined)
    lines.push(plan.productState ? 'b_dump_products state' : 'b_dump_products');
  for (const product of plan.products ?? [])
    lines.push(`b_dump ${shq(`product:${product}`)} "$B_STATE/products/"${shq(`${product}.ini`)}`);
  if (plan.lock) lines.push('b_dump_lock');
  if (plan.journalId !== undefined) lines.push(`b_queue_journal ${shq(plan.journalId)}`);
  if (plan.newestJournal) lines.push('b_dump_newest_journal');
  // Every file queued above is read by one awk.
  lines.push('b_flush');
  if (plan.checks) lines.push('b_cached_checks');
  lines.push('b_emit "@end"');
  return header(paths, { plan: plan.checks === true }) + lines.join('\n') + '\n';
}

export interface CheckPlan {
  checks: ReadonlyArray<{ product: string; raw: string }>;
  /** SHA-256 of the bootstrap.ini and server.ini (null: absent) the plan was made from. */
  configSha256: string;
  serverSha256: string | null;
}

/** The plan as kept in lib/: it says which files it was made from, then runs exactly its checks. */
function planText(plan: CheckPlan): string {
  const made = `${plan.configSha256} ${plan.serverSha256 ?? 'absent'}`;
  const checks = plan.checks.map((c) => `b_check ${shq(c.product)} ${shq(c.raw)}`);
  return [`${PLAN_TAG} ${made}`, `b_emit "@checkplan ${made}"`, ...checks, ''].join('\n');
}

/**
 * Runs exactly the named checks (heartbeat.appstack's plan): the host never reads `check =` itself,
 * so what runs is what the tool's parser of bootstrap.ini listed, and nothing when it refused the file.
 * The plan is kept in the state dir's lib/ (named by its SHA-256), where the next heartbeat's read
 * runs it when bootstrap.ini and server.ini are still the files it was made from.
 */
export function renderChecks(paths: HostPaths, plan: CheckPlan): string {
  const text = planText(plan);
  const name = createHash('sha256').update(text).digest('hex');
  const data = (b64(text).match(/.{1,76}/g) ?? []).join('\n');
  const lines = [
    'b_emit "@bootstrap 1"',
    text.trimEnd(),
    'b_checks_done',
    `b_keep_plan ${name} <<'${DATA_END}'\n${data}\n${DATA_END}`,
    'b_emit "@end"',
  ];
  return `${header(paths)}${lines.join('\n')}\n`;
}

export function renderFollow(paths: HostPaths, operationId: string, waitSeconds: number): string {
  const wait = Math.max(0, Math.floor(waitSeconds));
  return `${header(paths)}b_emit "@bootstrap 1"\nb_follow ${shq(operationId)} ${wait}\nb_emit "@end"\n`;
}

function expectLine(expect: readonly Expectation[]): string {
  const args = expect.map((e) => `${shq(e.path)} ${e.sha256 ?? 'absent'}`).join(' ');
  return `b_expect_unchanged ${args}`;
}

/** Base64 is never `_`, so no line of the data can end its here-document. */
const DATA_END = 'CLOUDIQ_DATA';

/**
 * An atomic write; `orElse` runs when it fails (the file is then untouched); without it, a
 * runner's write, whose failure fails the operation (prelude.sh b_put). The data follows as a
 * here-document (lines of base64), so however large the file no argument carries it.
 */
function writeLine(write: FileWrite, orElse?: string): string {
  const data = (b64(write.content).match(/.{1,76}/g) ?? []).join('\n');
  const path = shq(write.path);
  const command = orElse === undefined ? `b_put ${path}` : `b_write_b64 ${path}`;
  return `${command} <<'${DATA_END}'${orElse === undefined ? '' : ` || ${orElse}`}\n${data}\n${DATA_END}`;
}

/** `text` as a here-document body with a delimiter that none of its lines is. */
function hereDocument(text: string, base: string): { delimiter: string; body: string } {
  const lines = new Set(text.split('\n'));
  let delimiter = base;
  while (lines.has(delimiter)) delimiter += '_';
  return { delimiter, body: text.endsWith('\n') ? text : `${text}\n` };
}

export interface QuickWritePlan {
  operationId: string;
  command: string;
  waitLockSeconds: number;
  expect: readonly Expectation[];
  writes: readonly FileWrite[];
}

/** A short mutating command (product.set, server.mode MODE): under the lock, in the foreground. */
export function renderQuickWrite(paths: HostPaths, plan: QuickWritePlan): string {
  const lines = [
    "trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP",
    'b_emit "@bootstrap 1"',
    'b_mkdirs; case $? in 0) ;; 2) exit 0 ;; *) b_emit "@error INTERNAL mkdir"; exit 0 ;; esac',
    `b_take_lock ${shq(plan.operationId)} ${shq(plan.command)} ${plan.waitLockSeconds} || exit 0`,
    `${expectLine(plan.expect)} || exit 0`,
    // The time the lock was taken (b_lock_record): one `date` for the record and the files.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
    'B_NOW=${B_LOCK_AT:-$(b_now)}',
    ...plan.writes.map((w) => writeLine(w, `{ b_emit "@error INTERNAL write"; exit 0; }`)),
    'b_emit "@ok $B_NOW"',
  ];
  return header(paths) + lines.join('\n') + '\n';
}

export interface HookStep {
  product: string;
  action: 'provision' | 'upgrade';
  path: string;
  version?: string;
  /** BOOTSTRAP_CFG_* variables. */
  env: Record<string, string>;
  /** The product file while the hook runs (status provisioning/upgrading). */
  before: FileWrite;
  onSuccess: FileWrite;
  onFailure: FileWrite;
}

export interface LongPlan {
  operationId: string;
  command: string;
  /** JSON of the journal's `args`. */
  args: Record<string, string>;
  waitLockSeconds: number;
  hookTimeout: number;
  expect: readonly Expectation[];
  steps: readonly HookStep[];
  /** Written after every step succeeded (server.ini of a provision). */
  onSuccess?: FileWrite;
}

/**
 * A long command: the program writes the runner (a program that takes the lock, owns the journal
 * and runs the hooks) to a file in a private temp dir, starts it in its own session, and relays
 * its first answer (the running journal, or why it refused). The runner finishes whatever happens
 * to the connection that started it.
 *
 * The runner is self-contained: the host code, then its paths and its own lines. It runs after
 * this program has ended, when lib/ may be gone (SPEC 2.2), so it never sources lib/; but the host
 * code in it is written by the host from the code this program already holds there (kept-code.ts
 * `b_long`), so only the runner's own lines travel, as a here-document on b_long's stdin. Where
 * that code is lib/'s file, read again after the header checked it, and it has changed or gone
 * since, the program answers `@hostcode absent` before anything else, as the cached form's header
 * does, and the self-contained form follows (runWithHostCode): nothing ran, so nothing runs twice.
 *
 * The runner's text goes through a file, never argv (Linux caps one argument at 128 KiB, and a
 * role's config may be far larger) nor stdin (the runner would read its own program from a pipe
 * its starter must keep feeding until the very end). The file sits in `mktemp -d`'s 0700 dir,
 * written under umask 077, not the state dir: nothing may change there before the runner has
 * checked the hooks (INVALID_SCRIPT changes nothing). It is started only once written whole. The
 * runner unlinks it as it starts; its shell keeps reading the open file.
 *
 * `setsid setsid`: the first becomes a session leader, so the second must fork, and its parent
 * returns at once. The runner is so never an asynchronous list (`&`), whose commands a shell
 * without job control starts with SIGINT ignored, which no trap could then undo (POSIX, Shell
 * Command Language 2.11); SIGINT and SIGHUP can end it (SPEC 2.3). The pipe to `cat` carries its
 * answer: `cat` ends when the runner closes its stdout, or exits without answering. Its stderr
 * until then (setsid's, the shell's) comes back as the program's stderr.
 */
export function renderLong(paths: HostPaths, plan: LongPlan): string {
  const runner = hereDocument(
    `B_STATE=${shq(paths.stateDir)}\nB_CONFIG=${shq(paths.configPath)}\n${renderRunnerBody(plan)}`,
    'CLOUDIQ_RUNNER',
  );
  const lines = [renderLongStart(runner.delimiter), `${runner.body}${runner.delimiter}`, 'b_emit "@end"'];
  return header(paths) + lines.join('\n') + '\n';
}

/**
 * The runner's own lines: its operation, its checks and its steps, between the calls of the
 * prelude's functions that are the same in every runner (b_long_known, b_long_lock, b_long_begin,
 * b_step: lib/host/prelude.sh, in the order they run).
 */
function renderRunnerBody(plan: LongPlan): string {
  const id = shq(plan.operationId);
  const head = `"id":${JSON.stringify(plan.operationId)},"command":${JSON.stringify(plan.command)},"args":${JSON.stringify(plan.args)}`;
  const lines = [
    `J_ID=${id}; J_COMMAND=${shq(plan.command)}; J_HEAD=${shq(head)}; B_HOOK_TIMEOUT=${plan.hookTimeout}`,
    'b_long_known && exit 0',
    ...plan.steps.map((s) => `b_check_hook ${shq(s.product)} ${s.action} ${shq(s.path)} || exit 0`),
    `b_long_lock ${plan.waitLockSeconds}`,
    `${expectLine(plan.expect)} || exit 0`,
    'b_long_begin',
  ];
  plan.steps.forEach((step, index) => {
    const fn = `b_step_${index}`;
    const env = Object.entries(step.env)
      .map(([name, value]) => ` ${envName(name)}=${shq(value)}; export ${name};`)
      .join('');
    lines.push(`${fn}_env() { :;${env} }`);
    lines.push(`${fn}_failed() {\n${writeLine(step.onFailure, ':')}\n}`);
    lines.push(`${fn}_ok() {\n${writeLine(step.onSuccess)}\n}`);
    lines.push(writeLine(step.before));
    const version = step.version === undefined ? '' : ` ${shq(step.version)}`;
    lines.push(`b_step ${index} ${shq(step.product)} ${step.action} ${shq(step.path)}${version}`);
  });
  if (plan.onSuccess) lines.push(writeLine(plan.onSuccess));
  lines.push('b_finish');
  return lines.join('\n') + '\n';
}

/** A variable's name as it is written into a program: a name, or nothing is rendered at all. */
function envName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new BootstrapError('INTERNAL', `not a variable name: ${JSON.stringify(name)}`, { name });
  return name;
}
