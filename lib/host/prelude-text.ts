import { PRELUDE as SOURCE } from './shell-source.ts';

/**
 * Shell text without its comment lines, blank lines and indentation: what a program needs to run,
 * at about 60% of the size. Only for text written so that no quoted string or here-document holds
 * a line that starts with blanks or `#` (lib/host/prelude.sh is).
 */
export function compactShell(text: string): string {
  const lines = text.split('\n').map((line) => line.replace(/^[ \t]+/, ''));
  return `${lines.filter((line) => line !== '' && !line.startsWith('#')).join('\n')}\n`;
}

/** The prelude as every program carries it: lib/host/prelude.sh, compacted. */
export const PRELUDE: string = compactShell(SOURCE);
