/**
 * The command line's bytes as the kernel has them. Node decodes its arguments as UTF-8 lossily
 * (an invalid byte becomes U+FFFD), so `threads=$'a\xffb'` would reach product.set as `a�b` and
 * be stored changed. On Linux the raw arguments are in /proc/self/cmdline (NUL-separated);
 * node's own flags and the script come first there, so the CLI's arguments are aligned from the
 * end and each is checked against what node decoded. Where that cannot be done (no /proc, a
 * changed process title, another count), the bytes are unknown: a U+FFFD in an argument cannot
 * then be told from one that was typed, and is left as it is.
 */
import { readFileSync } from 'node:fs';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `bytes` decoded as UTF-8, or undefined when they are not valid UTF-8. */
export function strictUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** This process's /proc/self/cmdline, or null where there is none. */
export function readProcessCmdline(): Buffer | null {
  try {
    return readFileSync('/proc/self/cmdline');
  } catch {
    return null;
  }
}

function splitCmdline(cmdline: Buffer): Buffer[] {
  const entries: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < cmdline.length; i++) {
    if (cmdline[i] === 0) {
      entries.push(cmdline.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < cmdline.length) entries.push(cmdline.subarray(start));
  return entries;
}

/**
 * The raw bytes of each of `argv`, the last arguments of the process whose command line is
 * `cmdline`; null when they cannot be told: no command line, fewer entries than `argv` after the
 * program, or an entry that is not what node made of it (a valid one must decode to exactly its
 * argument, an invalid one to an argument with a U+FFFD).
 */
export function rawArguments(argv: readonly string[], cmdline: Buffer | null): Buffer[] | null {
  if (cmdline === null) return null;
  const entries = splitCmdline(cmdline);
  // At least the program itself comes before the arguments.
  if (entries.length < argv.length + 1) return null;
  const tail = entries.slice(entries.length - argv.length);
  for (const [i, raw] of tail.entries()) {
    const decoded = strictUtf8(raw);
    const arg = argv[i] ?? '';
    if (decoded === undefined ? !arg.includes('\uFFFD') : decoded !== arg) return null;
  }
  return tail;
}

/** The raw bytes of `argv` when it is this process's own arguments (what bin/ and entry.ts pass), else null. */
export function processRawArguments(argv: readonly string[]): Buffer[] | null {
  const own = process.argv.slice(2);
  if (own.length !== argv.length || own.some((arg, i) => arg !== argv[i])) return null;
  return rawArguments(argv, readProcessCmdline());
}
