/**
 * The forms of a program around the host code kept on the host between operations (SPEC 2.2
 * `lib/`, kept-code.ts): a file named by its SHA-256 in the state dir's `lib/`, so that a program
 * sends only its own lines.
 *
 * Every program is rendered self-contained: its header carries the host code as one single-quoted
 * word, evaluates it, and (re)installs it in `lib/` when the state dir exists. That text is what
 * `--dry-run` prints and what runs on a host without the cache. `runWithHostCode` first sends the
 * same program with the header swapped for a short check that sources the cached file; a host
 * whose cache is missing, corrupt, foreign-owned or writable by others answers `@hostcode absent`
 * before it runs anything else, and gets the self-contained program, which repairs the cache.
 *
 * A transport may send the cached form shorter still (`renderLoadedForm`): SSM, whose commands
 * SPEC 3.2 (v2) keeps to a few hundred bytes for a read, sends the paths, one line that loads the
 * kept code, and the program's own lines for the kept code's framing function to run.
 *
 * A long operation's runner, which runs on after its program has ended, holds the host code
 * itself; the program writes it there on the host from the code it already holds, whatever its
 * form (`b_long`), so only the runner's own lines travel.
 */
import { ABSENT_RECORD, HOST_CODE, HOST_CODE_SHA256, LONG_CALL, PLAN_CHECK, TRUST } from './kept-code.ts';
import type { ProgramOutput } from './parse.ts';
import { shq } from './quote.ts';

export interface HeaderPaths {
  configPath: string;
  stateDir: string;
}

/** What a self-contained program answers first when the cache is in place and usable. */
const INSTALLED_RECORD = '@hostcode installed';

/** Where the cached code is, in every header: the hash is its name (the code cannot hold its own). */
const LIB_PATH = `$B_STATE/lib/${HOST_CODE_SHA256}`;

/** The cached code checked (SPEC 2.2's terms, then one sha256sum) before it is sourced. */
const HC_OK = [
  'b_hc_ok() {',
  `  B_LIB=${LIB_PATH}`,
  '  b_lib_trusted "$B_LIB" || return 1',
  `  [ "$(sha256sum < "$B_LIB" 2>/dev/null)" = "${HOST_CODE_SHA256}  -" ]`,
  '}',
].join('\n');

/** The same for a heartbeat's read, whose check of lib/ also covers the kept plan. */
const HC_PLAN_OK = [
  'b_hc_plan_ok() {',
  `B_LIB=${LIB_PATH}`,
  'b_plan_check "$B_LIB"',
  'case $? in 0) return 0 ;; 1) return 1 ;; esac',
  'b_hc_ok',
  '}',
].join('\n');

const absent = (check: string) =>
  `if ${check}; then . "$B_LIB"; else printf '%s\\n' '${ABSENT_RECORD}'; exit 0; fi\n`;

/** The cached form's header: check, then source; or answer so and run nothing. */
const CACHED_TAIL = `${TRUST}\n${HC_OK}\n${absent('b_hc_ok')}`;
/** The same for a program that runs the kept plan, which the check then covers too. */
const CACHED_PLAN_TAIL = `${TRUST}\n${HC_OK}\n${PLAN_CHECK}\n${HC_PLAN_OK}\n${absent('b_hc_plan_ok')}`;

/*
 * The self-contained form's header. The install writes the very bytes evaluated (b_write_stdin:
 * temp file in lib/, fsync, rename, fsync of lib/), only where the state dir exists (a read
 * never creates it) and into a lib/ of ours (made private again if group- or other-writable), and says
 * `@hostcode installed` only when the cache now passes the same check the cached form makes.
 */
const FULL_DEFINE = [
  `B_HOSTCODE=${shq(HOST_CODE)}`,
  'eval "$B_HOSTCODE"',
  HC_OK,
  'b_hc_install() {',
  '  [ -d "$B_STATE" ] && [ ! -L "$B_STATE/lib" ] || return 0',
  '  b_hc_ok && { b_emit "$1"; return 0; }',
  '  [ -d "$B_STATE/lib" ] || mkdir -m 0750 "$B_STATE/lib" 2>/dev/null || return 0',
  '  [ -n "$(find "$B_STATE/lib" -prune -user "$(id -u)" -print 2>/dev/null)" ] || return 0',
  '  chmod go-w "$B_STATE/lib" 2>/dev/null',
  // In a subshell without fault points: the program's own writes are what those are for.
  '  (BOOTSTRAP_FAULT_AT=; printf \'%s\' "$B_HOSTCODE" | b_write_stdin "$B_LIB") 2>/dev/null && b_hc_ok && b_emit "$1"',
  '}',
  '',
].join('\n');
const FULL_CALL = `b_hc_install '${INSTALLED_RECORD}'\n`;
const FULL_TAIL = FULL_DEFINE + FULL_CALL;
/** Marks a self-contained program that runs the kept plan: its cached form checks the plan too. */
const PLAN_MARK = '# runs the kept plan\n';
/** Made once: joined at each call, it was a 19 KB string built and flattened per program. */
const PLANNED_FULL_TAIL = PLAN_MARK + FULL_TAIL;

function pathLines(paths: HeaderPaths): string {
  return `B_STATE=${shq(paths.stateDir)}\nB_CONFIG=${shq(paths.configPath)}\n`;
}

/**
 * The first lines of every program: its paths, then the host code (self-contained form). With
 * `plan`, the header's check of lib/ also checks the kept appstack plan (b_cached_checks runs it).
 */
export function renderHeader(paths: HeaderPaths, options: { plan?: boolean } = {}): string {
  return pathLines(paths) + (options.plan ? PLAN_MARK : '') + FULL_TAIL;
}

/** The same program with its header relying on the cached code; undefined when it has no such header. */
export function cachedForm(program: string): string | undefined {
  const planned = program.indexOf(PLANNED_FULL_TAIL);
  if (planned >= 0)
    return program.slice(0, planned) + CACHED_PLAN_TAIL + program.slice(planned + PLANNED_FULL_TAIL.length);
  const at = program.indexOf(FULL_TAIL);
  if (at < 0) return undefined;
  return program.slice(0, at) + CACHED_TAIL + program.slice(at + FULL_TAIL.length);
}

/*
 * The loaded form (renderLoadedForm). Its load reads the cached file once, at most one byte more
 * than this code has (whatever is there: a symlink to a huge file is never read whole), and
 * evaluates that text only if it hashes to the file's name: what runs is what was checked, with no
 * window between the check and the use. b_hc_run then holds the file to SPEC 2.2's terms
 * (b_lib_trusted) before anything of the program runs. `[ -f ]` first: a fifo is never opened.
 * Where either fails the command prints nothing and exits 0 (see renderLoadedForm). It refuses
 * what b_hc_ok refuses, but for a file that is this code with more newlines at its end (the shell's
 * `$(…)` drops them, and the text evaluated is then this code exactly), so a host whose cache the
 * self-contained form has just repaired is never refused here. Its cost is b_hc_ok's and one
 * process more: head, sha256sum, and b_lib_trusted's find (and `id` under posh).
 */
const LOAD_BOUND = Buffer.byteLength(HOST_CODE) + 1;
const LOAD = [
  `B_LIB=${LIB_PATH}`,
  `[ -f "$B_LIB" ]&&_k=$(head -c ${LOAD_BOUND} "$B_LIB")&&[ "$(sha256sum<<E`,
  '$_k',
  'E',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a JS template
  ')" = "${B_LIB##*/}  -" ]&&eval "$_k"||exit 0',
  '',
].join('\n');
/** The function the loaded form puts the program's own lines in. */
const LOADED_BODY = 'b_p';

/**
 * A program in its cached form (`cachedForm`) for a transport that runs the program's own lines
 * through a function of the kept code, `runner` (SSM: its framing function, lib/host/envelope.ts),
 * and that must send as few bytes as it can (SPEC 3.2 v2: a read is then a few hundred bytes): its
 * paths; one line that loads the kept code; the program's own lines as a function; and
 * `b_hc_run RUNNER FUNCTION`. Where the kept code cannot be used (missing, corrupt, foreign-owned,
 * writable by others) the command prints nothing at all and exits 0, having run nothing: the
 * cached form's `@hostcode absent` (`ABSENT_RECORD`), which the transport answers in its stead:
 * saying nothing costs the command no bytes. A program that runs the kept plan checks it
 * from b_cached_checks, after the load, instead of in the load's find and sha256sum. Undefined
 * when `program` is not in its cached form.
 */
export function renderLoadedForm(program: string, runner: string): string | undefined {
  for (const tail of [CACHED_PLAN_TAIL, CACHED_TAIL]) {
    const at = program.indexOf(tail);
    if (at < 0) continue;
    const body = program.slice(at + tail.length);
    const lines = body.endsWith('\n') ? body : `${body}\n`;
    return `${program.slice(0, at)}${LOAD}${LOADED_BODY}(){\n${lines}}\nb_hc_run ${runner} ${LOADED_BODY}\n`;
  }
  return undefined;
}

/**
 * What a long-lived host shell evaluates once so that its frames can run without their header:
 * the host code and the install function (nothing runs yet). A session whose host was last seen
 * with a usable cache loads CACHED_LOAD instead (see sessionFrame).
 */
export const SESSION_LOAD: string = FULL_DEFINE;

/*
 * A session's load where the cache was usable: the cached form's check, then the cached file
 * sourced. The session reads its frames with `read`, one byte per read(2) in every shell, so the
 * whole host code as a frame (SESSION_LOAD, 19.6 KB) cost a session's start ~17 ms of host CPU
 * under dash (~26 under bash); this is ~1 KB and the file is read in blocks: ~7 ms (~10). Where the check fails the shell
 * ends before any frame has started: the program then goes by exec, whose cached form answers
 * `@hostcode absent` and whose self-contained form repairs the cache. The install is then only a
 * check: the code came from the file, so there is no text here to write.
 */
const CACHED_LOAD = [
  TRUST,
  HC_OK,
  'if b_hc_ok; then . "$B_LIB"; else exit 0; fi',
  'b_hc_install() { b_hc_ok && b_emit "$1"; }',
  '',
].join('\n');

/**
 * The program as a frame for a shell that has evaluated its `load`: its paths and its own lines;
 * a self-contained program also (re)installs the cache, as it would alone (`installs`: it
 * writes). `load` is what the session starting with this frame loads: for a program in its cached
 * form, the host was last seen with a usable cache, and the session sources it (CACHED_LOAD);
 * otherwise the host code itself (SESSION_LOAD). Undefined when the program has no header of ours.
 *
 * A self-contained program that writes the host code into a runner (b_long: a long operation)
 * goes whole: a session that loaded the code from lib/ holds no text of it, and this
 * is the program sent when lib/ failed that copy, so it must bring the text, and repair lib/ as
 * it does alone. Long operations are rare; the frame is about the size their runner was.
 */
export function sessionFrame(program: string): { text: string; installs: boolean; load: string } | undefined {
  const full = program.indexOf(FULL_TAIL);
  if (full >= 0)
    return {
      text: program.includes(LONG_CALL)
        ? program
        : program.slice(0, full) + FULL_CALL + program.slice(full + FULL_TAIL.length),
      installs: true,
      load: SESSION_LOAD,
    };
  for (const tail of [CACHED_TAIL, CACHED_PLAN_TAIL]) {
    const cached = program.indexOf(tail);
    if (cached >= 0)
      return {
        text: program.slice(0, cached) + program.slice(cached + tail.length),
        installs: false,
        load: program.slice(0, cached) + CACHED_LOAD,
      };
  }
  return undefined;
}

/** Hosts (transport and state dir) last seen without a usable cache: they get the whole program at once. */
const withoutCache = new WeakMap<object, Set<string>>();

/**
 * Runs a rendered program through `run`: its cached form first, unless this host was last seen
 * unable to keep the cache; the self-contained form when the host answers `@hostcode absent`
 * (nothing ran then, so nothing runs twice). The records of this exchange are removed from the
 * output the caller sees.
 */
export async function runWithHostCode(
  host: object,
  stateDir: string,
  program: string,
  run: (program: string) => Promise<ProgramOutput>,
): Promise<ProgramOutput> {
  const cached = cachedForm(program);
  const absent = withoutCache.get(host) ?? new Set<string>();
  if (cached !== undefined && !absent.has(stateDir)) {
    const result = await run(cached);
    if (!(result.exitCode === 0 && result.stdout === `${ABSENT_RECORD}\n`)) return result;
  }
  const result = await run(program);
  if (cached === undefined) return result;
  const installed = result.stdout.startsWith(`${INSTALLED_RECORD}\n`);
  if (installed) absent.delete(stateDir);
  else absent.add(stateDir);
  withoutCache.set(host, absent);
  return installed ? { ...result, stdout: result.stdout.slice(INSTALLED_RECORD.length + 1) } : result;
}
