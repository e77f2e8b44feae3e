import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * Parsed files, reused while the file is unchanged (same size, nanosecond mtime and inode), so
 * that a fleet of hundreds of hosts reads and parses one known_hosts and one key file once, not
 * once per connection; an edit (or an accept-new append) is seen at the next connection.
 *
 * The freshness check is a synchronous stat: one system call on the caller's thread, where the
 * promise form costs a thread-pool round trip and, for a file that is not there, an error with a
 * stack; with the known_hosts index (host-keys.ts) this halved the client's CPU before the handshake.
 */
export class ParsedFileCache<T> {
  readonly #entries = new Map<string, { version: string; value: Promise<T> }>();

  constructor(readonly parse: (text: string) => T) {}

  /** The parsed file with its owner and mode (from the same stat), or undefined when there is no file at that path. */
  find(file: string): Promise<{ value: T; uid: number; mode: number } | undefined> {
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(file, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      return Promise.reject(error);
    }
    if (info === undefined) {
      this.#entries.delete(file);
      return Promise.resolve(undefined);
    }
    const version = `${info.size}:${info.mtimeNs}:${info.ino}`;
    const owner = { uid: Number(info.uid), mode: Number(info.mode) };
    const cached = this.#entries.get(file);
    if (cached?.version === version) return cached.value.then((value) => ({ value, ...owner }));
    const value = readFile(file, 'utf8').then(this.parse);
    this.#entries.set(file, { version, value });
    value.catch(() => this.#entries.delete(file));
    return value.then(
      (parsed) => ({ value: parsed, ...owner }),
      // Removed between the stat and the read: absent, as it would have been a moment later.
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)),
    );
  }
}
