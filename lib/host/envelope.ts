/**
 * A program as the transports that feed it on stdin send it (the local shell, SSH's `. /dev/stdin`):
 * one brace group. A shell parses a compound command whole before it runs any of it, so a program
 * cut short on its way — the sender killed, the connection lost — is a syntax error that runs
 * nothing, never its first half. Without it, dash and busybox ran a cut program up to the cut: a
 * here-document's data ended early, and the short file was committed (SPEC 2.2: never a torn
 * file; 2.5: all the pairs or none). SSM's command and a host session's frame arrive whole
 * (a frame is counted before it runs), and need none.
 */
export function wholeOrNothing(program: string): string {
  return `{\n${program}${program.endsWith('\n') ? '' : '\n'}}\n`;
}

/*
 * A program's answer as SSM's AWS-RunShellScript brings it back (lib/transport/ssm/frame.ts
 * explains the format and reads it). The shell function that frames it is defined here, in
 * lib/host, because it is part of the host code kept on the host (lib/host/kept-code.ts): a
 * command sent relying on that cache only calls it, which keeps a read a few hundred bytes
 * (SPEC 3.2 v2); a command that carries its program whole defines it first (the same text).
 */

/** The first word of every framed answer. */
export const FRAME_MAGIC = 'cloudiq-ssm/1';
/** Program stdout up to this many bytes comes back inline (with header and stderr, under 24,000 characters). */
export const INLINE_LIMIT = 20_000;
/**
 * Bytes of the stored output per page. The first page comes after the header and the stderr line
 * (up to 2,668 characters for {@link STDERR_TAIL} bytes in base64): 15,000 bytes are 20,264
 * characters of base64 with its line breaks, so all three stay under SSM's 24,000 characters.
 */
export const PAGE_BYTES = 15_000;
/** The end of stderr that comes back (diagnostics only). */
export const STDERR_TAIL = 2_000;

/** The framing function's name: `b_ssm CMD [ARG…]` runs CMD and prints its framed answer. */
export const FRAMED_RUN = 'b_ssm';

/*
 * `b_ssm CMD [ARG…]`: runs CMD in a subshell, stdin from /dev/null and its stdout and stderr into
 * files of a private temp dir (a detached child that inherited them can never keep the agent
 * waiting), then prints the header (mode, CMD's real exit code, its stdout's size), one line with
 * the end of its stderr in base64, and the answer: inline, or stored (gzipped where the host has
 * gzip) with its first page. It returns CMD's code, but never 194, which makes the SSM agent
 * reboot the node (the real code is in the header). The subshell names itself in B_SELF (from
 * /proc/self/stat), as a host session's frame does: in a subshell `$$` is still the caller's, and
 * the lock must name the process that holds it. Empty stderr costs no process. Self-contained:
 * it runs before any program, in the agent's shell, when the command carries its program whole.
 */
// biome-ignore-start lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates
export const FRAMED_RUN_CODE = [
  `${FRAMED_RUN}() {`,
  '_ft=$(mktemp -d "${TMPDIR:-/tmp}/cloudiq-ssm.XXXXXX") || { echo "cloudiq-ssm: mktemp failed" >&2; return 125; }',
  '( { read -r B_SELF _ </proc/self/stat; } 2>/dev/null || B_SELF=$$; "$@" ) </dev/null >"$_ft/o" 2>"$_ft/e"',
  '_fc=$? _fe=',
  '_fn=$(wc -c <"$_ft/o"); _fn=$((_fn + 0))',
  `[ ! -s "$_ft/e" ] || _fe=$(tail -c ${STDERR_TAIL} "$_ft/e" | base64 | tr -d '\\n')`,
  `if [ "$_fn" -le ${INLINE_LIMIT} ]; then`,
  `printf '${FRAME_MAGIC} inline %s %s\\n%s\\n' "$_fc" "$_fn" "$_fe"`,
  'cat "$_ft/o"',
  'rm -rf "$_ft"',
  'else',
  '_ff=$_ft/o _fz=raw',
  'if gzip -c <"$_ft/o" >"$_ft/z" 2>/dev/null; then _ff=$_ft/z _fz=gzip; fi',
  '_fs=$(wc -c <"$_ff"); _fs=$((_fs + 0))',
  `printf '${FRAME_MAGIC} paged %s %s %s %s %s\\n%s\\n' "$_fc" "$_fn" "$_fz" "$_fs" "$_ff" "$_fe"`,
  `dd if="$_ff" bs=${PAGE_BYTES} count=1 2>/dev/null | base64`,
  `[ "$_fs" -gt ${PAGE_BYTES} ] || rm -rf "$_ft"`,
  'fi',
  '[ "$_fc" -ne 194 ] || _fc=1',
  'return "$_fc"',
  '}',
  '',
].join('\n');
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not JS templates
