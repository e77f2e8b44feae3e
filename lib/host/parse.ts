import { BootstrapError, isErrorCode } from '../errors.ts';

/** Everything one run of a program printed, whichever transport ran it. */
export interface ProgramOutput {
  /** Everything the program printed on stdout, whole (transports that truncate must page). */
  stdout: string;
  /** What it printed on stderr; diagnostics only, may be truncated. */
  stderr: string;
  /** The program's exit status; 128+N when a signal N ended it. */
  exitCode: number;
}

/** `stateOnly`: the file from its `[state]` section on (`@state`), not the whole file. */
export type FileState =
  | { kind: 'absent' }
  | { kind: 'notfile' }
  /** `@file NAME b64 !`: a regular file the host could not read. */
  | { kind: 'unreadable' }
  | { kind: 'file'; data: Buffer; stateOnly?: true };

export type LockState =
  | { kind: 'absent' }
  | { kind: 'symlink' }
  | { kind: 'record'; alive: boolean; record: string };

export interface JournalDump {
  /** The operation's id: the journal file's name (`@journal ID`, `@lastop ID`). */
  id?: string;
  /** The journal's process still runs (meaningful while its status is `running`). */
  alive: boolean;
  text: string;
  /** `… b64 !`: the host could not read the file (`text` is then empty). */
  unreadable?: boolean;
}

export interface CheckResult {
  product: string;
  check: string;
  ok: boolean;
  detail: string;
}

/** Everything one program printed, as records (`@tag …` lines of lib/host/prelude.sh). */
export interface HostAnswer {
  facts: { uptime?: number; load?: [number, number, number] };
  files: Map<string, FileState>;
  lock?: LockState;
  journals: Map<string, JournalDump | null>;
  /** `@lastop`: the newest journal's first line (a whole journal where the host wrote one line). */
  lastOperation?: JournalDump;
  checks: CheckResult[];
  /** `@checkplan CONFIG SERVER`: the checks ran from a kept plan made from files with these hashes. */
  checkPlan?: { configSha256: string; serverSha256: string | null };
  /** `@locked`: the holder's record. */
  locked?: string;
  conflict: boolean;
  /** `@ok NOW`: a quick write succeeded at the host's time NOW. */
  ok?: string;
  /** `@error CODE …`: the host refused. */
  error?: { code: string; fields: string[] };
  ended: boolean;
  /** The end of what the program printed on stderr: the host's own words for any failure. */
  stderr: string;
}

/** How much of a program's stderr an error keeps. */
const STDERR_KEPT = 2000;

/** A record's field: `=TEXT` as it is, anything else base64 (see `b_enc` in prelude.sh). */
const unb64 = (text: string): string =>
  text.startsWith('=') ? text.slice(1) : Buffer.from(text, 'base64').toString('utf8');

/** Reads a program's output; anything that is not a well-formed answer is `INTERNAL`. */
export function parseAnswer(target: string, result: ProgramOutput): HostAnswer {
  const answer: HostAnswer = {
    facts: {},
    files: new Map(),
    journals: new Map(),
    checks: [],
    conflict: false,
    ended: false,
    stderr: result.stderr.slice(-STDERR_KEPT),
  };
  const lines = result.stdout.split('\n');
  const start = lines.indexOf('@bootstrap 1');
  if (start < 0) {
    throw new BootstrapError(
      'INTERNAL',
      `${target}: the host program did not run (exit ${result.exitCode})`,
      {
        server: target,
        exitCode: result.exitCode,
        stderr: answer.stderr,
      },
    );
  }
  for (let at = start + 1; at < lines.length; at++) {
    const line = lines[at] ?? '';
    if (line === '') continue;
    const [tag, ...fields] = line.split(' ');
    const bad = () =>
      new BootstrapError('INTERNAL', `${target}: unexpected answer from the host: ${line.slice(0, 200)}`, {
        server: target,
        stderr: answer.stderr,
      });
    switch (tag) {
      case '@fact':
        readFact(answer, fields);
        break;
      case '@file':
      case '@state': {
        const [name, kind] = fields;
        if (!name) throw bad();
        if (kind === 'absent') answer.files.set(name, { kind: 'absent' });
        else if (kind === 'notfile') answer.files.set(name, { kind: 'notfile' });
        else if (kind === 'b64' && fields[2] === '!') answer.files.set(name, { kind: 'unreadable' });
        else {
          const body = readBody(lines, at, fields.slice(1));
          if (!body) throw bad();
          answer.files.set(
            name,
            tag === '@state'
              ? { kind: 'file', data: body.data, stateOnly: true }
              : { kind: 'file', data: body.data },
          );
          at = body.last;
        }
        break;
      }
      case '@lock': {
        const [kind, alive, data] = fields;
        if (kind === 'absent' || kind === 'symlink') answer.lock = { kind };
        else if (kind === 'record' && data !== undefined)
          answer.lock = { kind, alive: alive === '1', record: unb64(data) };
        else throw bad();
        break;
      }
      case '@journal': {
        const [id, alive] = fields;
        if (!id) throw bad();
        if (alive === 'absent') {
          answer.journals.set(id, null);
          break;
        }
        if (fields[2] === 'b64' && fields[3] === '!') {
          answer.journals.set(id, { id, alive: alive === '1', text: '', unreadable: true });
          break;
        }
        const body = readBody(lines, at, fields.slice(2));
        if (!body) throw bad();
        answer.journals.set(id, { id, alive: alive === '1', text: body.data.toString('utf8') });
        at = body.last;
        break;
      }
      case '@lastop': {
        const [id, alive] = fields;
        if (!id) throw bad();
        if (fields[2] === 'b64' && fields[3] === '!') {
          answer.lastOperation = { id, alive: alive === '1', text: '', unreadable: true };
          break;
        }
        const body = readBody(lines, at, fields.slice(2));
        if (!body) throw bad();
        answer.lastOperation = { id, alive: alive === '1', text: body.data.toString('utf8') };
        at = body.last;
        break;
      }
      case '@check': {
        const [product, ok, check] = fields;
        if (!product || check === undefined) throw bad();
        // The detail, the last field, may hold spaces (prelude.sh's b_check_record).
        const detail = fields.slice(3).join(' ');
        answer.checks.push({ product, ok: ok === '1', check: unb64(check), detail: unb64(detail) });
        break;
      }
      case '@checkplan': {
        const [config, server] = fields;
        if (!config || !server) throw bad();
        answer.checkPlan = { configSha256: config, serverSha256: server === 'absent' ? null : server };
        break;
      }
      case '@locked':
        answer.locked = unb64(fields[0] ?? '');
        break;
      case '@conflict':
        answer.conflict = true;
        break;
      case '@ok':
        answer.ok = fields[0] ?? '';
        break;
      case '@error':
        if (!fields[0]) throw bad();
        answer.error = { code: fields[0], fields: fields.slice(1) };
        break;
      case '@end':
        answer.ended = true;
        break;
      default:
        throw bad();
    }
  }
  return answer;
}

/**
 * A file's content after its record's header (`b_flush` in prelude.sh): `b64 DATA` on the line
 * itself, or `text LINES EOL` and the next LINES lines as they are (EOL 1: it ends with a newline).
 * `last` is the index of the record's last line; `undefined` when it is malformed.
 */
function readBody(
  lines: readonly string[],
  at: number,
  [kind, a, b]: string[],
): { data: Buffer; last: number } | undefined {
  if (kind === 'b64') {
    if (a === undefined || a.includes('!')) return undefined;
    return { data: Buffer.from(a, 'base64'), last: at };
  }
  if (kind !== 'text' || !/^\d+$/.test(a ?? '') || (b !== '0' && b !== '1')) return undefined;
  const count = Number(a);
  // Every line of the body ends with a newline: the last element of the split is none of them.
  if (at + count > lines.length - 2) return undefined;
  const body = lines.slice(at + 1, at + 1 + count).join('\n');
  return { data: Buffer.from(count > 0 && b === '1' ? `${body}\n` : body, 'utf8'), last: at + count };
}

function readFact(answer: HostAnswer, fields: string[]): void {
  const [name, ...rest] = fields;
  if (name === 'uptime') answer.facts.uptime = Math.floor(Number(rest[0]) || 0);
  else if (name === 'load') {
    const [a, b, c] = rest.map((v) => Number(v) || 0);
    answer.facts.load = [a ?? 0, b ?? 0, c ?? 0];
  }
}

/** The holder named by a lock record (SPEC 2.3: first line PID, then key=value lines). */
export function parseLockRecord(record: string): {
  pid: number | null;
  operation: string | null;
  command: string | null;
  started_at: string | null;
} {
  const [first, ...rest] = record.split('\n');
  const fields = new Map(
    rest.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const pid = /^[0-9]+$/.test(first ?? '') ? Number(first) : null;
  return {
    pid,
    operation: fields.get('operation') ?? null,
    command: fields.get('command') ?? null,
    started_at: fields.get('started_at') ?? null,
  };
}

/**
 * The error a host's `@error` record stands for; `stderr` (what the program printed there) is kept
 * in its details, so the host's own words for a failure are never lost. `stateDir` is the
 * state dir the program was given: what a failed mkdir was about.
 */
export function hostError(
  target: string,
  error: { code: string; fields: string[] },
  stderr: string,
  stateDir: string,
): BootstrapError {
  const [a, b, c, d] = error.fields;
  const withStderr = <T extends Record<string, unknown>>(details: T) =>
    stderr === '' ? details : { ...details, stderr };
  if (error.code === 'INVALID_SCRIPT') {
    const path = unb64(d ?? '');
    const why =
      { missing: 'is missing', notfile: 'is not a file', notexecutable: 'is not executable' }[c ?? ''] ?? c;
    return new BootstrapError(
      'INVALID_SCRIPT',
      `${b} hook of ${a} (${path}) ${why}`,
      withStderr({ server: target, product: a, action: b, path, reason: c }),
    );
  }
  if (error.code === 'CONFIG_ERROR' && a === 'symlink') {
    const path = unb64(b ?? '');
    return new BootstrapError(
      'CONFIG_ERROR',
      `${path} is a symlink; refusing to follow it`,
      withStderr({ server: target, file: path, section: null, key: null }),
    );
  }
  if (error.code === 'CONFIG_ERROR' && a === 'notfile') {
    // `@error CONFIG_ERROR notfile B64(path) KIND`: a directory, fifo, socket or device at the lock path.
    const path = unb64(b ?? '');
    return new BootstrapError(
      'CONFIG_ERROR',
      `${path} is a ${c ?? 'special file'}, not a regular file; refusing to use it`,
      withStderr({ server: target, file: path, section: null, key: null }),
    );
  }
  if (error.code === 'CONFIG_ERROR' && a === 'notdir') {
    // `@error CONFIG_ERROR notdir B64(path) KIND`: a file, fifo, socket or device where a directory goes (the lock's .break).
    const path = unb64(b ?? '');
    const kind = c === 'file' ? 'regular file' : (c ?? 'special file');
    return new BootstrapError(
      'CONFIG_ERROR',
      `${path} is a ${kind}, not a directory; refusing to use it`,
      withStderr({ server: target, file: path, section: null, key: null }),
    );
  }
  if (error.code === 'LOCKED' && a === 'breaking') {
    // `@error LOCKED breaking B64(lock)`: the lock is stale, but another taker is breaking it (its
    // .break is there) and was still at it when the wait ran out. No holder to name: it is gone.
    const path = unb64(b ?? '');
    return new BootstrapError(
      'LOCKED',
      `${target}: the stale lock ${path} is being broken by another process (${path}.break is there); try again`,
      withStderr({
        server: target,
        pid: null,
        operation: null,
        command: null,
        started_at: null,
        file: path,
        breaking: true,
      }),
    );
  }
  if (error.code === 'INTERNAL' && a === 'mkdir') {
    // `@error INTERNAL mkdir`: the state dir or its folders could not be made (b_mkdirs). That is
    // the operator's setup (a path the login cannot write), as an unreadable bootstrap.ini is,
    // not a bug: CONFIG_ERROR naming the state dir, with the host's own reason.
    const said = stderr.trim().split('\n').at(-1) ?? '';
    return new BootstrapError(
      'CONFIG_ERROR',
      `${target}: the state dir ${stateDir} cannot be created${said === '' ? '' : `: ${said}`}`,
      withStderr({ server: target, file: stateDir, section: null, key: null, setting: 'state_dir' }),
    );
  }
  if (error.code === 'INTERNAL' && a !== undefined) {
    // `@error INTERNAL STEP [B64]`: a step of the program failed; B64 is what the host said of it.
    const said = b === undefined ? (stderr.trim().split('\n').at(-1) ?? '') : unb64(b);
    return new BootstrapError(
      'INTERNAL',
      `${target}: ${a} failed on the host${said === '' ? '' : `: ${said}`}`,
      withStderr({ server: target, step: a }),
    );
  }
  const code = isErrorCode(error.code) ? error.code : 'INTERNAL';
  return new BootstrapError(
    code,
    `${target}: host refused: ${error.code} ${error.fields.join(' ')}`,
    withStderr({ server: target }),
  );
}
