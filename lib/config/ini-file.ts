import ini from 'ini';
import { configError } from '../errors.ts';
import { nameRecord } from './records.ts';

/** An INI document as plain strings: section → key → value, in file order, without prototypes. */
export type IniDocument = Record<string, Record<string, string>>;

/**
 * Reads INI text with the `ini` package. Values are strings: the package turns bare
 * `true`/`false`/`null` into JSON values, which are turned back, so what was written reads back.
 * Keys outside any section land under the section name `''`. The package silently drops a
 * `[__proto__]` section (and what it holds) and a `__proto__` key; such a file is refused here
 * as `CONFIG_ERROR` instead, so nothing written in it vanishes unseen.
 */
export function parseIni(text: string, file = 'INI text', options: { once?: boolean } = {}): IniDocument {
  refuseProtoNames(text, file);
  if (options.once) refuseRepeats(text, file);
  // Most files have no dotted section: they are read as they are, in one pass of the package.
  const dotted = DOTTED_HEADER.test(text);
  const raw = ini.parse(dotted ? escapeSectionDots(text) : text) as Record<string, unknown>;
  const doc: IniDocument = nameRecord();
  for (const [name, value] of Object.entries(raw)) {
    if (!isPlainObject(value)) {
      doc[''] ??= nameRecord();
      doc[''][name] = scalar(value);
    }
  }
  const sections = Object.keys(raw).filter((name) => isPlainObject(raw[name]));
  if (dotted) {
    // The package moves a section whose name it unescaped to the end: sections keep file order here.
    const order = sectionOrder(text);
    sections.sort((a, b) => (order.get(a) ?? order.size) - (order.get(b) ?? order.size));
  }
  for (const name of sections) doc[name] = flattenSection(raw[name] as Record<string, unknown>);
  return doc;
}

/** A `[name]` line whose name holds a dot: only then is the text escaped and reordered. */
const DOTTED_HEADER = /^\[[^\]\r\n]*\.[^\]\r\n]*\]/m;

/** A `[name]` line as the package reads one (the whole line; nothing may come before the `[`). */
const HEADER = /^\[([^\]]*)\]\s*$/;

/**
 * The package nests `[role:edge.eu]` under `role:edge` (and `[server.extra]` under `server`),
 * where nobody reads it: escaped, a dot stays in the name, so such a section is read (and refused
 * by the file's own rules) under the name it was written with.
 */
function escapeSectionDots(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const header = HEADER.exec(line.replace(/\r$/, ''));
      return header ? line.replace(header[1]!, header[1]!.replace(/\\?\./g, '\\.')) : line;
    })
    .join('\n');
}

/** Each section's place in the file, by its first header. */
function sectionOrder(text: string): Map<string, number> {
  const order = new Map<string, number>();
  for (const line of text.split(/[\r\n]+/)) {
    const header = HEADER.exec(line);
    if (header) {
      const name = unquote(header[1]!);
      if (!order.has(name)) order.set(name, order.size);
    }
  }
  return order;
}

/** A name as the package reads it: trimmed, and unquoted when it is quoted. */
const unquote = (name: string) => name.trim().replace(/^(["'])(.*)\1$/, '$2');

function refuseProtoNames(text: string, file: string): void {
  if (!text.includes('__proto__')) return;
  // As the package reads a name: trimmed, unquoted, without a `[]` array suffix, split at dots.
  const parts = (name: string) =>
    name
      .trim()
      .replace(/\[\]$/, '')
      .replace(/^(["'])(.*)\1$/, '$2')
      .split('.');
  let section: string | null = null;
  for (const line of text.split(/[\r\n]+/)) {
    if (/^\s*[;#]/.test(line)) continue;
    const header = /^\[([^\]]*)\]\s*$/.exec(line.trim());
    if (header) section = header[1]!;
    const key = header ? undefined : /^([^=]+)/.exec(line)?.[1];
    const name = header ? section : key;
    if (name?.trim() && parts(name).includes('__proto__')) {
      throw configError(file, section, header ? null : name.trim(), '"__proto__" is not a usable name');
    }
  }
}

/**
 * A hand-written file (`bootstrap.ini`, an inventory) gives each section and each key of a section
 * once: the package would let a second `address =` replace the first, and merge a second
 * `[host:web-1]` into the first, both unseen. Lines are read as the package reads them (comments,
 * blank lines, `[name]` headers, `key = value`); a `key[]` array key may repeat.
 */
function refuseRepeats(text: string, file: string): void {
  const sections = new Set<string>();
  let section = '';
  let keys = new Set<string>();
  for (const line of text.split(/[\r\n]+/)) {
    if (/^\s*([;#]|$)/.test(line)) continue;
    const header = HEADER.exec(line);
    if (header) {
      section = unquote(header[1]!);
      if (sections.has(section)) throw configError(file, section, null, 'section given twice');
      sections.add(section);
      keys = new Set();
      continue;
    }
    // The package reads a line with no `=` as the key set to "true": `modes` alone is not a mode.
    if (!line.includes('='))
      throw configError(
        file,
        section || null,
        null,
        /^\s*\[/.test(line)
          ? `${JSON.stringify(line.trim())}: a section header is a whole line, [NAME] and nothing else`
          : `${JSON.stringify(line.trim())}: expected KEY = VALUE (there is no "=")`,
      );
    const key = unquote(/^([^=]+)/.exec(line)?.[1] ?? '');
    if (key === '' || key.endsWith('[]')) continue;
    if (keys.has(key))
      throw configError(
        file,
        section || null,
        key,
        'given twice in one section (the second would replace the first)',
      );
    keys.add(key);
  }
}

function flattenSection(section: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = nameRecord();
  for (const [key, value] of Object.entries(section)) {
    if (isPlainObject(value)) continue; // nested `[a.b]` sections: not used by any of our files
    out[key] = Array.isArray(value) ? value.map(scalar).join(', ') : scalar(value);
  }
  return out;
}

function scalar(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null) return 'null';
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Writes INI text that `parseIni` (and so the `ini` package) reads back exactly: a value is
 * written bare when the package would return it unchanged, and JSON-quoted otherwise (`;`, `#`,
 * backslashes, quotes, leading or trailing spaces, `true`).
 */
export function stringifyIni(doc: IniDocument): string {
  const blocks: string[] = [];
  for (const [section, entries] of Object.entries(doc)) {
    const lines = section === '' ? [] : [`[${section}]`];
    for (const [key, value] of Object.entries(entries)) lines.push(`${key}=${encodeValue(value)}`);
    blocks.push(lines.join('\n'));
  }
  return blocks.length === 0 ? '' : `${blocks.join('\n\n')}\n`;
}

const bareCache = new Map<string, boolean>();

function encodeValue(value: string): string {
  if (readsBackBare(value)) return value;
  // JSON.stringify leaves U+2028/U+2029 raw, and the `ini` line pattern's `.` stops at them.
  return JSON.stringify(value)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function readsBackBare(value: string): boolean {
  if (value === '' || /^\s|\s$|[;#\\"'=[\]\u2028\u2029]|^(true|false|null)$/.test(value)) return false;
  let ok = bareCache.get(value);
  if (ok === undefined) {
    ok = (ini.parse(`k=${value}`) as Record<string, unknown>)['k'] === value;
    if (bareCache.size < 1000) bareCache.set(value, ok);
  }
  return ok;
}
