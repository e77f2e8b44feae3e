/**
 * One long-lived `sh` on the host per pooled connection (one channel), which reads framed
 * programs from the channel and answers each, so a further program costs a frame instead of a
 * new channel, shell and parse of the host code.
 *
 * Framing. The client sends a random nonce as the first line, then frames: `ID COUNT` and COUNT
 * lines. The shell reads them with the `read` builtin (one byte at a time, so nothing past a frame
 * is consumed), acknowledges the start (`@@NONCE ID start`), runs the lines, then writes
 * `\n@@NONCE ID end STATUS\n` to stdout and `\n@@NONCE ID end\n` to stderr. Where the lines run:
 * - the load frame `L…` and a read `R…` (ExecRequest `readsOnly`), in the shell itself: a read
 *   sets only variables of its own and starts no process that outlives it, and saves the ~0.5 ms
 *   a subshell costs (stdin from /dev/null, the file queue of b_flush emptied first);
 * - every other frame `P…`, in a subshell with stdin from /dev/null and the nonce cleared, and
 *   B_SELF naming the frame's own process, from /proc/self/stat: in a subshell `$$` is still the
 *   session's shell, and the lock must name the process that holds it.
 * The session's own variables are named `_Z…`, which no host code uses (a test holds it so).
 * Exit status and output are an exec's, but for one thing: a frame killed by a signal has the
 * shell's report of it (`Terminated`) on its stderr, where an exec's shell dies silently.
 * Only the shell knows the nonce (cleared in a subshell frame; in a read, which runs in the shell,
 * our code prints records and file contents only, and what it starts never inherits the unexported
 * nonce), so no output of a program can end its frame early.
 *
 * Failure. A frame the shell never acknowledged never started: the caller may send it by exec.
 * One it acknowledged is never re-sent: when the session ends before its end marker, it fails as
 * an exec fails when its channel closes early. When the connection itself is lost, an unseen
 * acknowledgement proves nothing, so the frame fails too.
 */
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { BootstrapError } from '../../errors.ts';
import type { ExecResult } from '../types.ts';

/**
 * The session's loop, as one single-quoted word (the login shell reads it, so one line, no `!`).
 * `_Znl` is a newline made without quoting one, which csh would refuse.
 */
const SESSION_LOOP = [
  `'IFS= read -r _Zn || exit 0; _Znl=$(printf "\\nx"); _Znl=\${_Znl%x};`,
  'while read -r _Zi _Zc; do _Zb=;',
  'while [ "$_Zc" -gt 0 ] && IFS= read -r _Zl; do _Zb=$_Zb$_Zl$_Znl; _Zc=$((_Zc - 1)); done;',
  '[ "$_Zc" -eq 0 ] || exit 0; printf "@@%s %s start\\n" "$_Zn" "$_Zi";',
  'case $_Zi in L*) eval "$_Zb"; _Zs=$? ;; R*) { B_Q=; eval "$_Zb"; } </dev/null; _Zs=$? ;;',
  '*) (_Zn=; read -r B_SELF _ 2>/dev/null </proc/self/stat || B_SELF=$$; eval "$_Zb") </dev/null; _Zs=$? ;; esac;',
  `printf "\\n@@%s %s end %s\\n" "$_Zn" "$_Zi" "$_Zs"; printf "\\n@@%s %s end\\n" "$_Zn" "$_Zi" >&2; done'`,
].join(' ');

/**
 * What sshd runs for a session: the loop in /bin/sh. A login shell that is /bin/sh (sshd sets
 * `$SHELL` to it) runs the loop itself with `eval`, as remoteCommand's does the program (one
 * `exec` less); any other, csh and fish included, `exec`s /bin/sh first.
 */
export const SESSION_COMMAND = `test "$SHELL" = /bin/sh || exec /bin/sh -c ${SESSION_LOOP}; eval ${SESSION_LOOP}`;

/** The session ended (or could not take the frame) before the frame started: safe to send again. */
export const NOT_STARTED = Symbol('not started');

export interface SessionHooks {
  /** The session's channel closed (its slot is free again). */
  onEnd(): void;
  /** The error for a frame cut short, with the connection's details. */
  error(message: string): BootstrapError;
}

interface Pending {
  id: string;
  started: boolean;
  stdoutEnd?: { at: number; status: number };
  stderrEnd?: number;
  resolve(result: ExecResult | typeof NOT_STARTED): void;
  reject(error: unknown): void;
}

export class HostSession {
  readonly #channel: ClientChannel;
  readonly #nonce = randomBytes(16).toString('hex');
  #out = Buffer.alloc(0);
  #err = Buffer.alloc(0);
  #next = 1;
  #pending: Pending | undefined;
  #ended = false;
  /** Set by the connection when it is lost, before the channel's own close. */
  #lost: BootstrapError | undefined;
  readonly #hooks: SessionHooks;

  /** Starts the session on an open channel: sends the nonce and the load frame. */
  constructor(channel: ClientChannel, load: string, hooks: SessionHooks) {
    this.#channel = channel;
    this.#hooks = hooks;
    channel.on('data', (chunk: Buffer) => {
      this.#out = Buffer.concat([this.#out, chunk]);
      this.#pump();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      this.#err = Buffer.concat([this.#err, chunk]);
      this.#pump();
    });
    channel.on('error', () => {});
    channel.on('close', () => this.#end());
    // The load frame's answer is read and dropped like any frame's; a frame sent after it waits.
    this.#write(`${this.#nonce}\n${frameText('L0', load)}`);
    this.#pending = {
      id: 'L0',
      started: false,
      resolve: () => {},
      reject: () => {},
    };
  }

  /** Alive, and running nothing but (perhaps) its load frame. */
  get acceptsFrame(): boolean {
    return (
      !this.#ended && this.#queued === undefined && (this.#pending === undefined || this.#pending.id === 'L0')
    );
  }

  /** Alive and running nothing. */
  get idle(): boolean {
    return !this.#ended && this.#pending === undefined;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Runs one frame (lines of sh), `inShell` in the session's shell; NOT_STARTED when the session could not start it. */
  run(frame: string, signal: AbortSignal, inShell = false): Promise<ExecResult | typeof NOT_STARTED> {
    if (this.#ended) return Promise.resolve(NOT_STARTED);
    if (!this.acceptsFrame) return Promise.reject(new Error('host session busy'));
    const id = `${inShell ? 'R' : 'P'}${this.#next++}`;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // The program may go on on the host; closing the channel stops following it.
        reject(signal.reason);
        this.close();
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      const pending: Pending = {
        id,
        started: false,
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      const text = frameText(id, frame);
      if (this.#pending === undefined) this.#pending = pending;
      else this.#queued = pending;
      this.#write(text);
    });
  }

  #queued: Pending | undefined;

  /** The connection was lost: frames in flight fail, whatever they had acknowledged. */
  markLost(error: BootstrapError): void {
    this.#lost ??= error;
  }

  close(): void {
    if (this.#ended) return;
    this.#channel.close();
  }

  #write(text: string): void {
    try {
      this.#channel.write(text);
    } catch {
      this.close();
    }
  }

  /** Reads what arrived for the frame in front: its acknowledgement, then both end markers. */
  #pump(): void {
    while (this.#pending) {
      const p = this.#pending;
      if (!p.started) {
        const ack = Buffer.from(`@@${this.#nonce} ${p.id} start\n`);
        const at = this.#out.indexOf(ack);
        if (at < 0) return;
        p.started = true;
        this.#out = this.#out.subarray(at + ack.length);
      }
      if (!p.stdoutEnd) {
        const marker = Buffer.from(`\n@@${this.#nonce} ${p.id} end `);
        const at = this.#out.indexOf(marker);
        if (at < 0) return;
        const eol = this.#out.indexOf('\n', at + marker.length);
        if (eol < 0) return;
        p.stdoutEnd = { at, status: Number(this.#out.subarray(at + marker.length, eol).toString()) };
      }
      if (p.stderrEnd === undefined) {
        const at = this.#err.indexOf(Buffer.from(`\n@@${this.#nonce} ${p.id} end\n`));
        if (at < 0) return;
        p.stderrEnd = at;
      }
      const outMarker = Buffer.from(`\n@@${this.#nonce} ${p.id} end ${p.stdoutEnd.status}\n`).length;
      const errMarker = Buffer.from(`\n@@${this.#nonce} ${p.id} end\n`).length;
      const result: ExecResult = {
        stdout: this.#out.subarray(0, p.stdoutEnd.at).toString('utf8'),
        stderr: this.#err.subarray(0, p.stderrEnd).toString('utf8'),
        exitCode: p.stdoutEnd.status,
      };
      this.#out = this.#out.subarray(p.stdoutEnd.at + outMarker);
      this.#err = this.#err.subarray(p.stderrEnd + errMarker);
      this.#pending = this.#queued;
      this.#queued = undefined;
      p.resolve(result);
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const p of [this.#pending, this.#queued]) {
      if (!p) continue;
      if (p.started || this.#lost) {
        const lost = this.#lost;
        p.reject(
          lost
            ? new BootstrapError(lost.code, `${lost.message} before the program finished`, lost.details, {
                cause: lost,
              })
            : this.#hooks.error('the host session ended before the program reported its exit status'),
        );
      } else {
        p.resolve(NOT_STARTED);
      }
    }
    this.#pending = undefined;
    this.#queued = undefined;
    this.#hooks.onEnd();
  }
}

function frameText(id: string, text: string): string {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  const lines = body.split('\n').length - 1;
  return `${id} ${lines}\n${body}`;
}
