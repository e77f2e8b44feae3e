/**
 * Passphrases of encrypted private keys (SPEC 3.2 v2), when the agent does not hold the key:
 * `CLOUDIQ_SSH_PASSPHRASE`, else a prompt on the terminal — only when stdin and stderr are both
 * a terminal, with echo off, once per key file per process however many hosts use it. A
 * passphrase is never written anywhere but into the key parser.
 */

/** The environment variable a non-interactive run gives the passphrase in. */
export const PASSPHRASE_VARIABLE = 'CLOUDIQ_SSH_PASSPHRASE';

/** Where a passphrase came from, for messages (never the passphrase itself). */
export type PassphraseOrigin = 'environment' | 'terminal';

/** The passphrase for `identity`, or undefined when there is no way to get one. */
export async function obtainPassphrase(
  identity: string,
): Promise<{ passphrase: string; origin: PassphraseOrigin } | undefined> {
  const fromEnv = process.env[PASSPHRASE_VARIABLE];
  if (fromEnv !== undefined && fromEnv !== '') return { passphrase: fromEnv, origin: 'environment' };
  if (!canPrompt()) return undefined;
  let asked = answers.get(identity);
  if (!asked) {
    // One prompt at a time: a fleet's hosts connect together, the operator answers once.
    asked = prompting.then(() => readHidden(`Enter passphrase for key '${identity}': `));
    prompting = asked.then(
      () => undefined,
      () => undefined,
    );
    answers.set(identity, asked);
  }
  return { passphrase: await asked, origin: 'terminal' };
}

/** A passphrase that did not decrypt its key is not asked for again from the cache. */
export function forgetPassphrase(identity: string): void {
  answers.delete(identity);
}

/** Whether a person can be asked: both stdin (to read) and stderr (to ask) are a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

const answers = new Map<string, Promise<string>>();
let prompting: Promise<unknown> = Promise.resolve();

/** Reads one line from the terminal in raw mode, so nothing typed is echoed. */
function readHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    const wasRaw = input.isRaw;
    // Echo off before the prompt shows: an answer typed the moment it appears is never echoed.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.ref();
    input.resume();
    let answer = '';
    const finish = (interrupted: boolean) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      input.unref();
      process.stderr.write('\n');
      if (!interrupted) return resolve(answer);
      reject(new Error('the passphrase prompt was interrupted'));
      // Raw mode swallowed Ctrl-C: deliver it as the terminal would have.
      process.kill(process.pid, 'SIGINT');
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish(false);
        if (char === '\u0003') return finish(true);
        if (char === '\u0004' && answer === '') return finish(true);
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
        else if (char === '\u0015') answer = '';
        else if (char >= ' ') answer += char;
      }
    };
    input.on('data', onData);
  });
}
