import { readFile, stat } from 'node:fs/promises';

/**
 * Parsed files, reused while the file is unchanged (same size and nanosecond mtime), so that a
 * fleet of hundreds of hosts reads and parses one known_hosts and one key file once, not once
 * per connection; an edit (or an accept-new append) is seen at the next connection.
 */
export class ParsedFileCache<T> {
  readonly #entries = new Map<string, { version: string; value: Promise<T> }>();

  constructor(readonly parse: (text: string) => T) {}

  /** The parsed file; rejects as readFile would (ENOENT included). */
  async get(file: string): Promise<T> {
    const info = await stat(file, { bigint: true });
    const version = `${info.size}:${info.mtimeNs}:${info.ino}`;
    const cached = this.#entries.get(file);
    if (cached?.version === version) return cached.value;
    const value = readFile(file, 'utf8').then(this.parse);
    this.#entries.set(file, { version, value });
    value.catch(() => this.#entries.delete(file));
    return value;
  }
}
