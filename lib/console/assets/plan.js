/**
 * What a rollout will do, worked out in the browser before it starts: the targets a selector
 * picks (SPEC 3.1) from `GET /servers`'s names and groups, and the rate control (SPEC 4) as
 * counts. The server decides again when the rollout starts; these are a preview.
 *
 * Why not the server's own code (lib/config/inventory.ts `pickHosts`, lib/fleet/rate.ts): the page
 * has no build step, so it cannot import TypeScript; test/console/plan.test.ts holds both
 * versions to the same answers on generated inputs.
 */

/**
 * The hosts `selector` picks from `servers` (`[{ name, groups }]`), in list order, each once.
 * `tag:KEY=VALUE` items cannot be resolved from `GET /servers` (it carries no tags): they are
 * returned in `unresolved` for the server to resolve.
 * @param {readonly { name: string, groups: readonly string[] }[]} servers
 * @param {string} selector
 * @returns {{ ok: true, targets: string[], unresolved: string[] } | { ok: false, code: string, message: string }}
 */
export function resolveSelector(servers, selector) {
  const items = selector.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    return {
      ok: false,
      code: 'INVALID_REQUEST',
      message: `invalid selector ${JSON.stringify(selector)}: empty item`,
    };
  }
  const picked = new Set();
  const unresolved = [];
  for (const item of items) {
    if (item === 'all') {
      for (const server of servers) picked.add(server.name);
    } else if (item.startsWith('tag:')) {
      unresolved.push(item);
    } else if (item.startsWith('group:')) {
      const group = item.slice('group:'.length);
      const members = servers.filter((server) => server.groups.includes(group));
      if (members.length === 0) {
        return { ok: false, code: 'UNKNOWN_SERVER', message: `no host is in group ${JSON.stringify(group)}` };
      }
      for (const server of members) picked.add(server.name);
    } else if (servers.some((server) => server.name === item)) {
      picked.add(item);
    } else if (servers.some((server) => server.groups.includes(item))) {
      // A bare group name where no host bears it, as the server takes it (SPEC 3.1).
      for (const server of servers) if (server.groups.includes(item)) picked.add(server.name);
    } else {
      return { ok: false, code: 'UNKNOWN_SERVER', message: `unknown server ${JSON.stringify(item)}` };
    }
  }
  const targets = servers.filter((server) => picked.has(server.name)).map((server) => server.name);
  if (targets.length === 0 && unresolved.length === 0) {
    return {
      ok: false,
      code: 'INVALID_REQUEST',
      message: `selector ${JSON.stringify(selector)} picks no host`,
    };
  }
  return { ok: true, targets, unresolved };
}

export const DEFAULT_RATES = Object.freeze({ maxConcurrency: 10, maxErrors: 0, canary: 1 });

const COUNT = /^(0|[1-9][0-9]*)$/;
const PERCENT = /^(0|[1-9][0-9]?|100)%$/;

/**
 * One rate field as the API takes it: a number for a count, the text for a percentage;
 * `undefined` for an empty field (the server's default).
 * @param {string} field
 * @param {string | number | undefined} raw
 * @returns {{ ok: true, value: number | string | undefined } | { ok: false, message: string }}
 */
export function parseRate(field, raw) {
  const text = raw === undefined ? '' : String(raw).trim();
  if (text === '') return { ok: true, value: undefined };
  if (COUNT.test(text) && Number.isSafeInteger(Number(text))) {
    if (field === 'maxConcurrency' && Number(text) === 0) {
      return { ok: false, message: 'maxConcurrency must be at least 1 or 1%' };
    }
    return { ok: true, value: Number(text) };
  }
  if (PERCENT.test(text)) {
    if (field === 'maxConcurrency' && text === '0%') {
      return { ok: false, message: 'maxConcurrency must be at least 1 or 1%' };
    }
    return { ok: true, value: text };
  }
  return { ok: false, message: `${field} must be a whole number or a percentage from 0% to 100%` };
}

/**
 * The counts a run over `total` targets uses, rounding percentages as the server does:
 * concurrency down but at least 1, errors down, canaries up (at most `total`).
 * @param {{ maxConcurrency?: number | string | undefined, maxErrors?: number | string | undefined, canary?: number | string | undefined }} rates
 * @param {number} total
 * @returns {{ maxConcurrency: number, maxErrors: number, canary: number }}
 */
export function resolveRates(rates, total) {
  const count = (field, raw) => {
    if (typeof raw === 'number') return raw;
    const share = (Number(raw.slice(0, -1)) * total) / 100;
    if (field === 'maxConcurrency') return Math.max(1, Math.floor(share));
    if (field === 'maxErrors') return Math.floor(share);
    return Math.ceil(share);
  };
  return {
    maxConcurrency: count('maxConcurrency', rates.maxConcurrency ?? DEFAULT_RATES.maxConcurrency),
    maxErrors: count('maxErrors', rates.maxErrors ?? DEFAULT_RATES.maxErrors),
    canary: Math.min(count('canary', rates.canary ?? DEFAULT_RATES.canary), total),
  };
}
