import { homedir } from 'node:os';
import { BootstrapError } from '../../errors.ts';

/**
 * This process's home directory (HOME, else the user database), or undefined when it has none: a
 * container started with an arbitrary uid and no HOME. The files ssh would look for there
 * (`~/.ssh/config`, `~/.ssh/known_hosts`, the default keys) are then simply not there.
 */
export function homeDirectory(): string | undefined {
  try {
    return homedir() || undefined;
  } catch {
    return undefined;
  }
}

/** The home directory for a path that names it (`~`, `%d`); a CONFIG_ERROR naming the path when there is none. */
export function homeFor(path: string): string {
  const home = homeDirectory();
  if (home === undefined) {
    throw new BootstrapError(
      'CONFIG_ERROR',
      `${path}: names the home directory, and this process has none (HOME is unset and uid ${process.getuid?.() ?? '?'} has no entry)`,
      { path },
    );
  }
  return home;
}
