/**
 * How a program travels through AWS-RunShellScript and how its answer comes back whole.
 *
 * AWS-RunShellScript writes its `commands` into a script file that the agent runs with `sh`. We
 * do not hand it the program's text as it is: SSM resolves `{{ssm:…}}` references inside command
 * parameters, and exit code 194 asks the agent to reboot the node. A command is one of two forms,
 * each a pure function of the program, so the same program gives the same `commands` on every
 * host and SSM can batch it:
 *
 * - whole (`wrapProgram`): the program in base64, written to a private temp dir and run with
 *   `sh FILE`, byte for byte as ssh and local run it, by the framing function `b_ssm`, whose text
 *   the command carries (lib/host/envelope.ts);
 * - cached (`renderCommands`, for a program in the cached form of lib/host/host-code.ts): its
 *   paths, one line that loads the host code kept on the host (which defines `b_ssm`), and the
 *   program's own lines as a function that `b_ssm` runs in a subshell (`renderLoadedForm`). No
 *   base64, no decoding, no second shell: a read is a few hundred bytes (SPEC 3.2 v2), a long
 *   operation its runner's own lines and a few hundred more (the runner's code is written on the
 *   host from the code loaded there, lib/host/kept-code.ts `b_long`). Where the kept code cannot
 *   be used the command prints nothing at all and exits 0, having run nothing; the transport
 *   answers `@hostcode absent` for it, as the cached form would, and the caller then sends the
 *   self-contained program, which repairs the cache. A cached program whose text holds `{{` (or
 *   a CR), or that would pass {@link COMMANDS_LIMIT}, goes whole.
 *
 * `b_ssm` prints only on stdout: a header line (mode, the program's real exit code, its stdout's
 * size), one line with the last {@link STDERR_TAIL} bytes of its stderr in base64, then the
 * answer. Because the agent then has no stderr to append and the header declares the size, a
 * small answer read from `ListCommandInvocations`' plugin `Output` (2,500 characters) is known to
 * be whole, and needs no `GetCommandInvocation` per host.
 *
 * SSM returns only the first 24,000 characters of stdout. Up to {@link INLINE_LIMIT} bytes
 * the answer follows verbatim (`inline`); beyond, it stays on the host (gzipped when the host
 * has gzip), its first {@link PAGE_BYTES} bytes follow in base64 (`paged`), and the transport
 * fetches the rest with follow-up commands of one page each; the last one removes the temp dir.
 * We chose paging over S3 output because it needs no bucket, no S3 rights on the node, and no
 * S3 client here; answers are JSON and compress well, so pages are few.
 *
 * SPEC 3.2 (v2): `commands` stays under {@link COMMANDS_LIMIT} unless the values it carries are
 * larger. A program whose plain wrapper would pass it travels gzipped (`base64 -d | gzip -dc`,
 * both in coreutils/gzip and in busybox), decoded whole into the temp dir before it runs: a
 * corrupt or cut transfer fails gzip's check and runs nothing. A host without base64 or gzip is
 * told apart before anything is decoded (`missing TOOL` frame, `UNREACHABLE` here).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  FRAME_MAGIC,
  FRAMED_RUN,
  FRAMED_RUN_CODE,
  INLINE_LIMIT,
  PAGE_BYTES,
  STDERR_TAIL,
} from '../../host/envelope.ts';
import { renderLoadedForm } from '../../host/host-code.ts';
import { shq } from '../../host/quote.ts';

export { INLINE_LIMIT, PAGE_BYTES, STDERR_TAIL };

/** The size a `commands` parameter stays within (SPEC 3.2 v2), unless the values it carries are larger. */
export const COMMANDS_LIMIT = 16 * 1024;

const DELIMITER = 'CLOUDIQ_PROGRAM';

/** The `commands` for `program`, and whether they rely on the host's cached code (see the file's head). */
export function renderCommands(program: string): { commands: string; cached: boolean } {
  const loaded = renderLoadedForm(program, FRAMED_RUN);
  if (
    loaded !== undefined &&
    !loaded.includes('{{') &&
    !loaded.includes('\r') &&
    Buffer.byteLength(loaded) <= COMMANDS_LIMIT
  )
    return { commands: loaded, cached: true };
  return { commands: wrapProgram(program), cached: false };
}

/**
 * The AWS-RunShellScript `commands` text that runs `program` unchanged and frames its output:
 * the program in base64, or gzipped and in base64 when the plain wrapper would exceed
 * {@link COMMANDS_LIMIT}. A pure function of the program (gzip's output is too), so hosts running
 * the same program share one `SendCommand`.
 */
export function wrapProgram(program: string): string {
  const plain = wrapEncoded(Buffer.from(program, 'utf8'), false);
  if (Buffer.byteLength(plain) <= COMMANDS_LIMIT) return plain;
  return wrapEncoded(gzipSync(program, { level: 9 }), true);
}

function wrapEncoded(data: Buffer, gzipped: boolean): string {
  const lines = data.toString('base64').match(/.{1,76}/g) ?? [];
  const tools = gzipped ? 'base64 gzip' : 'base64';
  const decode = gzipped
    ? `base64 -d <<'${DELIMITER}' | gzip -dc >"$t/p"`
    : `base64 -d >"$t/p" <<'${DELIMITER}'`;
  return [
    `# cloudiq-bootstrap: the program is carried in base64${gzipped ? ', gzipped' : ''} (see lib/transport/ssm/frame.ts)`,
    `for x in ${tools}; do command -v "$x" >/dev/null 2>&1 || { printf '${FRAME_MAGIC} missing %s\\n' "$x"; exit 125; }; done`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh parameter expansion, not a JS template
    't=$(mktemp -d "${TMPDIR:-/tmp}/cloudiq-ssm.XXXXXX") || { echo "cloudiq-ssm: mktemp failed" >&2; exit 125; }',
    `${decode} || { echo "cloudiq-ssm: decoding the program failed" >&2; rm -rf "$t"; exit 125; }`,
    ...lines,
    DELIMITER,
    // The framing function (lib/host/envelope.ts), as the host code kept on the host has it.
    FRAMED_RUN_CODE.trimEnd(),
    `${FRAMED_RUN} sh "$t/p"`,
    'c=$?',
    'rm -rf "$t"',
    'exit "$c"',
    '',
  ].join('\n');
}

interface FrameCommon {
  exitCode: number;
  /** Bytes the program printed on stdout. */
  outputBytes: number;
  /** The end of what it printed on stderr. */
  stderr: string;
}

export type Frame =
  | { kind: 'missing'; tool: string }
  | (FrameCommon & { kind: 'inline'; stdout: string })
  | (FrameCommon & {
      kind: 'paged';
      encoding: 'gzip' | 'raw';
      /** Bytes of the stored file (after gzip). */
      storedBytes: number;
      /** The stored file on the host. */
      path: string;
      /** The first page, decoded. */
      firstPage: Buffer;
    });

const INLINE = /^cloudiq-ssm\/1 inline (\d+) (\d+)\n([A-Za-z0-9+/=]*)\n/;
const PAGED = /^cloudiq-ssm\/1 paged (\d+) (\d+) (gzip|raw) (\d+) ([A-Za-z0-9._/-]+)\n([A-Za-z0-9+/=]*)\n/;

const MISSING = /^cloudiq-ssm\/1 missing ([a-z0-9]+)\n/;

/** Reads the wrapper's answer; `undefined` when the wrapper did not get as far as printing its header. */
export function parseFrame(output: string): Frame | undefined {
  const missing = MISSING.exec(output);
  if (missing) return { kind: 'missing', tool: missing[1] ?? '' };
  const inline = INLINE.exec(output);
  if (inline) {
    return {
      kind: 'inline',
      exitCode: Number(inline[1]),
      outputBytes: Number(inline[2]),
      stderr: Buffer.from(inline[3] ?? '', 'base64').toString('utf8'),
      stdout: output.slice(inline[0].length),
    };
  }
  const paged = PAGED.exec(output);
  if (!paged) return undefined;
  return {
    kind: 'paged',
    exitCode: Number(paged[1]),
    outputBytes: Number(paged[2]),
    encoding: paged[3] === 'gzip' ? 'gzip' : 'raw',
    storedBytes: Number(paged[4]),
    path: paged[5] ?? '',
    stderr: Buffer.from(paged[6] ?? '', 'base64').toString('utf8'),
    firstPage: Buffer.from(output.slice(paged[0].length), 'base64'),
  };
}

/** How much of a plugin's output ListCommandInvocations shows: its first 2,500 characters. */
export const LISTED_OUTPUT_LIMIT = 2_500;

/**
 * True when `output` holds the whole framed answer (header, stderr line, every byte of an inline
 * stdout): what an excerpt must show before it can stand for StandardOutputContent.
 */
export function isWholeFrame(output: string): boolean {
  const frame = parseFrame(output);
  return frame?.kind === 'inline' && Buffer.byteLength(frame.stdout, 'utf8') === frame.outputBytes;
}

/**
 * {@link isWholeFrame} for the plugin `Output` of ListCommandInvocations. An excerpt SSM cut is
 * its first 2,500 characters with a marker after them (`---Output truncated---`), so longer than
 * that: counted by bytes alone, a cut answer whose marker happened to make up the declared size
 * would pass for whole, its last bytes replaced by the marker.
 */
export function isWholeListedFrame(output: string): boolean {
  return output.length <= LISTED_OUTPUT_LIMIT && isWholeFrame(output);
}

/** How many pages the stored output has, the first one included. */
export function pageCount(frame: Extract<Frame, { kind: 'paged' }>): number {
  return Math.max(1, Math.ceil(frame.storedBytes / PAGE_BYTES));
}

/** The follow-up command that prints page `index` (0-based) of a stored output; the last page also removes it. */
export function renderPageProgram(frame: Extract<Frame, { kind: 'paged' }>, index: number): string {
  const last = index === pageCount(frame) - 1;
  const dir = frame.path.slice(0, frame.path.lastIndexOf('/'));
  return [
    `f=${shq(frame.path)}`,
    '[ -f "$f" ] || { echo "cloudiq-ssm: stored output is gone" >&2; exit 66; }',
    `printf '${FRAME_MAGIC} page %s\\n' ${index}`,
    `dd if="$f" bs=${PAGE_BYTES} skip=${index} count=1 2>/dev/null | base64 || exit 74`,
    last ? `rm -rf ${shq(dir)}` : '',
    '',
  ].join('\n');
}

/** Decodes one follow-up command's answer, or `undefined` when it is not the page asked for. */
export function parsePage(output: string, index: number): Buffer | undefined {
  const header = `${FRAME_MAGIC} page ${index}\n`;
  if (!output.startsWith(header)) return undefined;
  return Buffer.from(output.slice(header.length), 'base64');
}

/** The program's whole stdout from its pages, or `undefined` when the bytes do not add up. */
export function assemblePages(frame: Extract<Frame, { kind: 'paged' }>, pages: Buffer[]): string | undefined {
  const stored = Buffer.concat(pages);
  if (stored.length !== frame.storedBytes) return undefined;
  const output = frame.encoding === 'gzip' ? gunzipSync(stored) : stored;
  if (output.length !== frame.outputBytes) return undefined;
  return output.toString('utf8');
}

/** A temp path the wrapper could have made: the only value a page program takes from the host. */
export function isStoredPath(path: string): boolean {
  return /^\/[A-Za-z0-9._/-]*\/cloudiq-ssm\.[A-Za-z0-9]+\/[oz]$/.test(path) && !path.includes('/../');
}
