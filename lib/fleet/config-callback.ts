/**
 * Where a fleet run's result goes when its request names no callback URL (SPEC 5): the hosts'
 * own `[server] callback_url`, voted on. Every driver of a fleet run uses it: the CLI's and
 * serve's in-process runs, and the cloud's aggregate step.
 */
import type { BootstrapConfig } from '../config/bootstrap-config.ts';

/**
 * The `[server] callback_url` a fleet run may use when its request names none: only one that
 * every host read agrees on. One host's bootstrap.ini must not decide where every other host's
 * results go (and sign them with CALLBACK_SECRET), so hosts that disagree — another URL, or none —
 * name no callback at all, and `disagreement()` says so for a warning.
 */
export interface ConfigCallbackVote {
  /** Give to `onConfig`: each host's bootstrap.ini, as it is read. */
  onConfig(config: BootstrapConfig): void;
  /** One host's callback_url (null: it names none), where it was read elsewhere. */
  add(url: string | null): void;
  /** The URL every host read named; undefined when none was read, or they disagree. */
  agreed(): string | undefined;
  /** What the hosts said when they disagree (a warning's text); undefined when they agree. */
  disagreement(): string | undefined;
}

export function voteConfigCallback(): ConfigCallbackVote {
  const named = new Set<string | null>();
  const agreed = () => {
    if (named.size !== 1) return undefined;
    return [...named][0] ?? undefined;
  };
  return {
    onConfig: (config) => {
      named.add(config.server.callbackUrl ?? null);
    },
    add: (url) => {
      named.add(url);
    },
    agreed,
    disagreement: () => {
      if (named.size < 2) return undefined;
      // How many, not which: a URL's path may be a secret of its own.
      const urls = [...named].filter((url): url is string => url !== null).length;
      const none = named.has(null) ? ', and hosts that name none' : '';
      return (
        `the hosts disagree on [server] callback_url (${urls} different URL${urls === 1 ? '' : 's'}${none}); ` +
        'no callback is sent: name one in the request'
      );
    },
  };
}
