import { createHash } from 'node:crypto';
import { BootstrapError } from '../errors.ts';
import { PLAN_TAG, renderHeader, renderPlainHeader } from './host-code.ts';
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
 * An atomic write; `orElse` runs when it fails (the file is then untouched). The data follows as
 * a here-document (lines of base64), so however large the file no argument carries it.
 */
function writeLine(write: FileWrite, orElse = `b_write_failed ${shq(write.path)}`): string {
  const data = (b64(write.content).match(/.{1,76}/g) ?? []).join('\n');
  return `b_write_b64 ${shq(write.path)} <<'${DATA_END}' || ${orElse}\n${data}\n${DATA_END}`;
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
 * The runner's text goes through a file, never argv (Linux caps one argument at 128 KiB, and a
 * role's config may be far larger) nor stdin (the runner would read its own program from a pipe
 * its starter must keep feeding until the very end). The file sits in `mktemp -d`'s 0700 dir,
 * not the state dir: nothing may change there before the runner has checked the hooks
 * (INVALID_SCRIPT changes nothing). The runner unlinks it as it starts; its shell keeps reading
 * the open file.
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
    `rm -f "$0"\n${renderPlainHeader(paths)}${renderRunnerBody(plan)}`,
    'CLOUDIQ_RUNNER',
  );
  const lines = [
    'b_emit "@bootstrap 1"',
    'B_RUN_DIR=$(mktemp -d) || { b_emit "@error INTERNAL runner"; exit 0; }',
    'umask 077',
    `cat > "$B_RUN_DIR/runner" <<'${runner.delimiter}' || { rm -rf "$B_RUN_DIR"; b_emit "@error INTERNAL runner"; exit 0; }`,
    `${runner.body}${runner.delimiter}`,
    'umask 027',
    'if b_have setsid; then',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
    '  setsid setsid "${BOOTSTRAP_SH:-sh}" "$B_RUN_DIR/runner" </dev/null 2>"$B_RUN_DIR/err" | cat',
    'else',
    // Without setsid there is no detaching but `&` (SIGINT then stays ignored in the runner).
    `  { ( trap '' HUP; exec "\${BOOTSTRAP_SH:-sh}" "$B_RUN_DIR/runner" ) </dev/null 2>"$B_RUN_DIR/err" & } | cat`,
    'fi',
    'cat "$B_RUN_DIR/err" >&2',
    'rm -rf "$B_RUN_DIR"',
    'b_emit "@end"',
  ];
  return header(paths) + lines.join('\n') + '\n';
}

function renderRunnerBody(plan: LongPlan): string {
  const id = shq(plan.operationId);
  const head = `"id":${JSON.stringify(plan.operationId)},"command":${JSON.stringify(plan.command)},"args":${JSON.stringify(plan.args)}`;
  const lines = [
    `J_ID=${id}; J_COMMAND=${shq(plan.command)}; J_HEAD=${shq(head)}; B_HOOK_TIMEOUT=${plan.hookTimeout}`,
    // An id that already has a journal answers with it instead of running again (SPEC 2.5).
    '[ -f "$B_STATE/operations/$J_ID.json" ] && { b_dump_journal "$J_ID"; exit 0; }',
    ...plan.steps.map((s) => `b_check_hook ${shq(s.product)} ${s.action} ${shq(s.path)} || exit 0`),
    'b_mkdirs; case $? in 0) ;; 2) exit 0 ;; *) b_emit "@error INTERNAL mkdir"; exit 0 ;; esac',
    `b_take_lock "$J_ID" "$J_COMMAND" ${plan.waitLockSeconds} || exit 0`,
    '[ -f "$B_STATE/operations/$J_ID.json" ] && { b_dump_journal "$J_ID"; exit 0; }',
    // Nothing but a regular file (or nothing) at the journal's and the log's paths: refused before
    // anything changes (a directory there took the journal in, a fifo hung the runner holding the lock).
    'b_runner_paths || exit 0',
    `${expectLine(plan.expect)} || exit 0`,
    "trap 'b_on_signal TERM' TERM; trap 'b_on_signal INT' INT; trap 'b_on_signal HUP' HUP",
    'J_STARTED=$(b_now); b_pid_stat $$; J_PID_START=$_ps_start',
    'b_journal_stale',
    'b_journal_write || { b_emit "@error INTERNAL journal"; exit 0; }',
    'b_mark_last',
    'b_fault long:started',
    'exec 2>>"$B_STATE/logs/$J_ID.log"',
    'b_dump_journal "$J_ID"',
    'exec >/dev/null',
  ];
  plan.steps.forEach((step, index) => {
    const fn = `b_step_${index}`;
    const env = Object.entries(step.env)
      .map(([name, value]) => ` ${envName(name)}=${shq(value)}; export ${name};`)
      .join('');
    lines.push(`${fn}_env() { :;${env} }`);
    lines.push(`${fn}_failed() {\n${writeLine(step.onFailure, ':')}\n}`);
    lines.push(writeLine(step.before));
    lines.push(`b_fault long:before-hook-${index}`);
    lines.push(`B_CFG_FN=${fn}_env; B_ON_SIGNAL_STATE=${fn}_failed`);
    const version = step.version === undefined ? '' : ` ${shq(step.version)}`;
    lines.push(`if b_run_hook ${shq(step.product)} ${step.action} ${shq(step.path)}${version}; then`);
    lines.push(`  B_ON_SIGNAL_STATE=; ${writeLine(step.onSuccess)}`);
    lines.push(`else\n  B_ON_SIGNAL_STATE=; ${fn}_failed; b_finish\nfi`);
    lines.push(`b_fault long:after-hook-${index}`);
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
