/**
 * The code the host keeps in lib/ (SPEC 2.2): the sh prelude and the functions below, which
 * every form of a program relies on (host-code.ts renders those forms): the check of lib/ against
 * SPEC 2.2's terms, the check of the kept appstack plan, the loaded form's runner, a long
 * operation's start (`b_long`) and SSM's framing function. Named by its SHA-256, which is
 * computed here, once.
 */
import { createHash } from 'node:crypto';
import { FRAMED_RUN_CODE } from './envelope.ts';
import { PRELUDE } from './prelude-text.ts';
import { shq } from './quote.ts';

/** What a program answers, before running anything, when the cached code cannot be used. */
export const ABSENT_RECORD = '@hostcode absent';
/** The first line of heartbeat.appstack's plan as kept in lib/ (lib/host/programs.ts writes it). */
export const PLAN_TAG = '# cloudiq-bootstrap appstack plan 1';

/*
 * SPEC 2.2's terms for lib/, the one check for every file kept there (this code, and the
 * appstack plan prelude.sh keeps): regular files owned by the running user, neither they nor
 * lib/ writable by anyone else. Ownership by `test -O` where the shell has it (posh has not:
 * `id -u` then), modes by one find, which never follows a symlink. It is part of the kept code,
 * and stands in the cached header too, because that form runs it before the code is loaded.
 */
export const TRUST = [
  `B_PLAN_TAG=${shq(PLAN_TAG)}`,
  'b_lib_trusted() {',
  '  [ -d "$B_STATE/lib" ] && [ ! -L "$B_STATE/lib" ] || return 1',
  '  _le=$B_STATE/lib _lo=0',
  '  for _lf; do [ -f "$_lf" ] && [ ! -L "$_lf" ] || return 1; _le="$_le',
  '$_lf"; done',
  '  { [ -O "$B_STATE/lib" ]; } 2>/dev/null || _lo=$?',
  '  if [ $_lo -eq 0 ]; then for _lf; do { [ -O "$_lf" ]; } 2>/dev/null || { _lo=$?; break; }; done; fi',
  '  case $_lo in',
  '    0) _lt=$(find "$B_STATE/lib" "$@" -prune ! -perm -020 ! -perm -002 -print 2>/dev/null) || return 1 ;;',
  '    1) return 1 ;;',
  '    *) _lt=$(find "$B_STATE/lib" "$@" -prune -user "$(id -u)" ! -perm -020 ! -perm -002 -print 2>/dev/null) || return 1 ;;',
  '  esac',
  '  [ "$_lt" = "$_le" ]',
  '}',
].join('\n');

/*
 * The kept appstack plan (prelude.sh keeps it, b_cached_checks runs it): found by its first line,
 * trusted under the same terms, and run only when its text hashes to its name and bootstrap.ini
 * and server.ini are still the files it was made from. `b_plan_check [HOSTCODE]` does that in
 * one find and one sha256sum, and with HOSTCODE (a path named by its SHA-256) checks that file in
 * the same two, as a heartbeat's cached header does (b_hc_plan_ok): two processes for both, not
 * four. It leaves B_PLAN_OK (and the text, read once with builtins, in _pt) and answers 1 when
 * HOSTCODE does not match its name, 2 when there is no plan it may run. Part of the kept code.
 */
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates
export const PLAN_CHECK = [
  'b_plan_check() {',
  'B_PLAN_DONE=1 B_PLAN_OK= _hc=${1:-} _pf= _pt= _sh=',
  'for _kf in "$B_STATE"/lib/*; do',
  '{ IFS= read -r _ptag < "$_kf"; } 2>/dev/null || continue',
  'case "$_ptag" in "$B_PLAN_TAG "*) _pf=$_kf; break ;; esac',
  'done',
  '[ -n "$_pf" ] && b_lib_trusted ${_hc:+"$_hc"} "$_pf" || return 2',
  '{ while IFS= read -r _pl; do _pt="$_pt$_pl',
  '"; done < "$_pf"; } 2>/dev/null',
  '_sf=$B_STATE/server.ini; [ -f "$_sf" ] || _sf=/dev/null _sh=absent',
  'set -- $(sha256sum /dev/fd/5 - /dev/fd/3 /dev/fd/4 2>/dev/null 5<"${_hc:-/dev/null}" 3<"$B_CONFIG" 4<"$_sf" <<B_PLAN',
  '${_pt%?}',
  'B_PLAN',
  ')',
  '[ -z "$_hc" ] || [ "${1:-}" = "${_hc##*/}" ] || return 1',
  '[ "${3:-}" = "${_pf##*/}" ] && [ "$_ptag" = "$B_PLAN_TAG ${5:-} ${_sh:-${7:-}}" ] && B_PLAN_OK=1',
  'return 0',
  '}',
].join('\n');
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates

/*
 * `b_hc_run CMD [ARG…]`, for a command that loaded this code from lib/ itself (renderLoadedForm):
 * holds the file it came from to SPEC 2.2's terms before anything runs, then runs CMD; where they
 * fail it answers nothing and exits 0, as that command's load does. Part of the kept code.
 */
const RUN_LOADED = 'b_hc_run() { b_lib_trusted "$B_LIB" || exit 0; "$@"; }';

/*
 * `b_long DIR SHA256 BOUND`, the start of a long operation (lib/host/programs.ts renderLong), whose
 * runner's own lines come on stdin: it writes the runner (the host code, then those lines) in the
 * program's private temp dir DIR (mktemp -d) under umask 077, starts it detached, relays its first
 * answer, and removes DIR. The runner runs on after the program has ended, when lib/ may be gone
 * (SPEC 2.2), so it holds the code itself, never a `.` of lib/; but that code is written from what
 * the program already holds, so no command carries it twice: the self-contained form's
 * $B_HOSTCODE, the loaded form's checked $_k (the cached file less its last newline), or, in the
 * cached form, which sourced the file and holds no text, the file read once more (at most BOUND
 * bytes: a symlink to a huge file is never read whole). One sha256sum then checks what was
 * written against SHA256, the host code's name (which this code cannot hold): a file changed or
 * deleted since the header's check, or a variable of that name inherited from the environment,
 * never gets into a runner. Where the text came from lib/ and failed, the answer is the cached
 * form's `@hostcode absent` (ABSENT_RECORD) alone, before anything else has run, and the caller
 * sends the self-contained form (runWithHostCode); where it came from a variable (the write
 * failed, or the variable was inherited), `@error INTERNAL runner`. The runner is started only
 * once written whole. Part of the kept code, which only long
 * operations call (and which their runners hold, unused).
 */
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates
const LONG_START = [
  'b_long() {',
  '_ld=$1; umask 077',
  '_hf=1; [ -z "${B_HOSTCODE+x}${_k+x}" ] || _hf=',
  `if [ -n "\${B_HOSTCODE+x}" ]; then printf '%s' "$B_HOSTCODE"; elif [ -n "\${_k+x}" ]; then printf '%s\\n' "$_k"`,
  'else [ -f "${B_LIB:-}" ] && head -c "$3" "$B_LIB"; fi >"$_ld/code" 2>/dev/null &&',
  '[ "$(sha256sum <"$_ld/code" 2>/dev/null)" = "$2  -" ] || {',
  `rm -rf "$_ld"; [ -z "$_hf" ] || { b_emit ${shq(ABSENT_RECORD)}; exit 0; }`,
  'b_emit "@bootstrap 1"; b_emit "@error INTERNAL runner"; exit 0; }',
  'b_emit "@bootstrap 1"',
  `{ b_emit 'rm -f "$0"' && cat "$_ld/code" -; } >"$_ld/runner" || { rm -rf "$_ld"; b_emit "@error INTERNAL runner"; exit 0; }`,
  'umask 027',
  'if b_have setsid; then',
  'setsid setsid "${BOOTSTRAP_SH:-sh}" "$_ld/runner" </dev/null 2>"$_ld/err" | cat',
  'else',
  // Without setsid there is no detaching but `&` (SIGINT then stays ignored in the runner).
  `{ ( trap '' HUP; exec "\${BOOTSTRAP_SH:-sh}" "$_ld/runner" ) </dev/null 2>"$_ld/err" & } | cat`,
  'fi',
  'cat "$_ld/err" >&2',
  'rm -rf "$_ld"',
  '}',
].join('\n');
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates

/** What the host keeps in lib/: the prelude, the functions above and SSM's framing function. */
export const HOST_CODE: string = `${PRELUDE}${TRUST}\n${PLAN_CHECK}\n${RUN_LOADED}\n${LONG_START}\n${FRAMED_RUN_CODE}`;

/** The cached file's name, and the hash its content is checked against on every use. */
export const HOST_CODE_SHA256 = createHash('sha256').update(HOST_CODE).digest('hex');

/** A long operation's call of b_long, up to its bound: found only in programs that start a runner. */
export const LONG_CALL = `b_long "$B_RUN_DIR" ${HOST_CODE_SHA256} `;

/**
 * How a long operation starts its runner: its private temp dir, then b_long, whose stdin is the
 * runner's own lines, a here-document ending at `delimiter` that follows these lines.
 */
export function renderLongStart(delimiter: string): string {
  return [
    'B_RUN_DIR=$(mktemp -d) || { b_emit "@bootstrap 1"; b_emit "@error INTERNAL runner"; exit 0; }',
    `${LONG_CALL}${Buffer.byteLength(HOST_CODE) + 1} <<'${delimiter}'`,
  ].join('\n');
}
