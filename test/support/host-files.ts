// Small helpers for tests of the host program: what a state dir holds, waiting for a file or a
// process, and a busybox-only shell (no flock, no coreutils) to run programs with.
import {
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One entry of a directory tree: its kind, mode and bytes (files) or target (symlinks). */
export interface TreeEntry {
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: string;
}

/**
 * Every path under `root` (names, modes, bytes as base64), or null when `root` does not exist:
 * compared before and after an operation to prove that nothing changed.
 */
export function snapshotTree(root: string): Record<string, TreeEntry> | null {
  let top: ReturnType<typeof lstatSync>;
  try {
    top = lstatSync(root);
  } catch {
    return null;
  }
  const out: Record<string, TreeEntry> = { '.': { kind: 'dir', mode: top.mode } };
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const key = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out[key] = { kind: 'symlink', mode: st.mode, data: readlinkSync(path) };
      else if (st.isDirectory()) {
        out[key] = { kind: 'dir', mode: st.mode };
        walk(path, key);
      } else out[key] = { kind: 'file', mode: st.mode, data: readFileSync(path).toString('base64') };
    }
  };
  walk(root, '');
  return out;
}

/** Polls `check` every 25 ms until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Is a process with this PID alive (and not a zombie)? */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Field 22 of /proc/PID/stat: the process's start time in clock ticks. */
export function pidStart(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

export function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const BUSYBOX_APPLETS = [
  'cat',
  'awk',
  'sed',
  'base64',
  'sha256sum',
  'mktemp',
  'sync',
  'mv',
  'rm',
  'mkdir',
  'rmdir',
  'chmod',
  'date',
  'cut',
  'tail',
  'wc',
  'tr',
  'ls',
  'sleep',
  'timeout',
  'setsid',
  'mkfifo',
  'ln',
  'stat',
  'env',
  'grep',
  'sort',
  'touch',
  'dirname',
  'basename',
  'head',
  'kill',
  'printf',
  'pwd',
  'find',
  'id',
  'sh',
];

/**
 * A directory of busybox applet links, `sh` among them: a host with busybox only (no flock, no
 * bash, no coreutils) when used as the shell and the whole PATH.
 */
export function createBusyboxDir(): { dir: string; shell: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'cloudiq-busybox-'));
  for (const applet of BUSYBOX_APPLETS) symlinkSync('/bin/busybox', join(dir, applet));
  return { dir, shell: join(dir, 'sh'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The seven shells the host program runs under, by absolute path, with the environment each
 * needs (busybox sh: busybox's applets only, from `busybox`'s directory).
 */
export function sevenShells(busybox: {
  dir: string;
  shell: string;
}): Array<[name: string, path: string, env?: NodeJS.ProcessEnv]> {
  return [
    ['dash', '/usr/bin/dash'],
    ['bash', '/usr/bin/bash'],
    ['busybox sh', busybox.shell, { PATH: busybox.dir }],
    ['mksh', '/usr/bin/mksh'],
    ['ksh93', '/usr/bin/ksh93'],
    ['posh', '/usr/bin/posh'],
    ['yash', '/usr/bin/yash'],
  ];
}

/** SIGKILL to every process of a session (a long operation's runner and its hooks, which setsid started). */
export function killSession(sid: number): void {
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) process.kill(Number(name), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** The PIDs of a session's live processes. */
export function sessionMembers(sid: number): number[] {
  const members: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid && fields[0] !== 'Z') members.push(Number(name));
    } catch {
      // gone already
    }
  }
  return members;
}
