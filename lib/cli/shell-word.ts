import { shq } from '../host/quote.ts';

/**
 * A word of a command line the CLI prints for an operator to run (the demo's transcript, the
 * follow command after an interrupt): bare when sh reads it back unchanged, else single-quoted.
 */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : shq(text);
}

/** Words joined into one line sh splits back into the same words. */
export function shellLine(words: readonly string[]): string {
  return words.map(shellWord).join(' ');
}
