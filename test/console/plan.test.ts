// The console's rollout preview (lib/console/assets/plan.js) against the server's own rules: the
// selector resolution of SPEC 3.1 (pickHosts) and the rate control of SPEC 4 (rate.ts), on
// hand-picked cases and on generated fleets and selectors, so the preview shows what will run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pickHosts } from '../../lib/config/inventory.ts';
import { parseRate, resolveRates, resolveSelector } from '../../lib/console/assets/plan.js';
import { toBootstrapError } from '../../lib/errors.ts';
import { resolveRateControl, validateRateControl } from '../../lib/fleet/rate.ts';

const FLEET = [
  { name: 'web-1', groups: ['edge', 'eu'] },
  { name: 'web-2', groups: ['edge', 'us'] },
  { name: 'worker-1', groups: ['workers', 'eu'] },
  { name: 'db-1.eu', groups: [] },
];

describe('resolveSelector (SPEC 3.1)', () => {
  it('keeps inventory order and names each host once', () => {
    assert.deepEqual(resolveSelector(FLEET, 'worker-1,group:edge,web-1'), {
      ok: true,
      targets: ['web-1', 'web-2', 'worker-1'],
      unresolved: [],
    });
    assert.deepEqual(resolveSelector(FLEET, ' group:eu , db-1.eu '), {
      ok: true,
      targets: ['web-1', 'worker-1', 'db-1.eu'],
      unresolved: [],
    });
    assert.deepEqual(resolveSelector(FLEET, 'all'), {
      ok: true,
      targets: ['web-1', 'web-2', 'worker-1', 'db-1.eu'],
      unresolved: [],
    });
  });

  it('refuses what the server refuses, with its codes', () => {
    assert.deepEqual(resolveSelector(FLEET, 'web-9'), {
      ok: false,
      code: 'UNKNOWN_SERVER',
      message: 'unknown server "web-9"',
    });
    assert.equal((resolveSelector(FLEET, 'group:db') as { code: string }).code, 'UNKNOWN_SERVER');
    assert.equal((resolveSelector(FLEET, 'web-1,,web-2') as { code: string }).code, 'INVALID_REQUEST');
    assert.equal((resolveSelector([], 'all') as { code: string }).code, 'INVALID_REQUEST');
  });

  it('leaves tag: items to the server (GET /servers carries no tags)', () => {
    assert.deepEqual(resolveSelector(FLEET, 'web-1,tag:Env=prod'), {
      ok: true,
      targets: ['web-1'],
      unresolved: ['tag:Env=prod'],
    });
  });

  it('agrees with the server (pickHosts) on generated fleets and selectors', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'web-1', 'x.eu', 'all-1');
    // `a` is a host name and a group name at once: the host wins (SPEC 3.1).
    const group = fc.constantFrom('g1', 'g2', 'edge', 'a');
    const fleet = fc.uniqueArray(fc.record({ name, groups: fc.uniqueArray(group, { maxLength: 2 }) }), {
      selector: (host) => host.name,
      maxLength: 5,
    });
    const item = fc.oneof(
      name,
      group,
      group.map((g) => `group:${g}`),
      fc.constant('all'),
      fc.constant(''),
      fc.constant(' a '),
    );
    const selector = fc.array(item, { minLength: 1, maxLength: 4 }).map((items) => items.join(','));
    fc.assert(
      fc.property(fleet, selector, (hosts, text) => {
        const mine = resolveSelector(hosts, text);
        let theirs: { ok: true; targets: string[] } | { ok: false; code: string };
        try {
          theirs = { ok: true, targets: pickHosts(hosts, text, 'the fleet').map((host) => host.name) };
        } catch (error) {
          theirs = { ok: false, code: toBootstrapError(error).code };
        }
        if (theirs.ok) assert.deepEqual(mine, { ok: true, targets: theirs.targets, unresolved: [] });
        else assert.equal(mine.ok === false && mine.code, theirs.code, JSON.stringify({ hosts, text, mine }));
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseRate and resolveRates (SPEC 4)', () => {
  it('reads form text as the API takes it', () => {
    assert.deepEqual(parseRate('maxErrors', ''), { ok: true, value: undefined });
    assert.deepEqual(parseRate('maxErrors', ' 2 '), { ok: true, value: 2 });
    assert.deepEqual(parseRate('canary', '25%'), { ok: true, value: '25%' });
    assert.equal(parseRate('maxConcurrency', '0').ok, false);
    assert.equal(parseRate('maxConcurrency', '0%').ok, false);
    assert.equal(parseRate('maxErrors', '1.5').ok, false);
    assert.equal(parseRate('maxErrors', '101%').ok, false);
    assert.equal(parseRate('maxErrors', '-1').ok, false);
  });

  it('rounds percentages as the server does: concurrency down (at least 1), errors down, canaries up', () => {
    assert.deepEqual(resolveRates({}, 3), { maxConcurrency: 10, maxErrors: 0, canary: 1 });
    assert.deepEqual(resolveRates({ maxConcurrency: '50%', maxErrors: '25%', canary: '10%' }, 6), {
      maxConcurrency: 3,
      maxErrors: 1,
      canary: 1,
    });
    assert.deepEqual(resolveRates({ canary: 5 }, 2), { maxConcurrency: 10, maxErrors: 0, canary: 2 });
  });

  it('agrees with the server (validateRateControl, resolveRateControl) on generated values', () => {
    const raw = fc.oneof(
      fc.constant(''),
      fc.nat(150).map(String),
      fc.nat(120).map((n) => `${n}%`),
      fc.constantFrom('0', '00', '1.5', '-2', 'x', '5 %', '100%'),
    );
    fc.assert(
      fc.property(raw, raw, raw, fc.integer({ min: 1, max: 300 }), (concurrency, errors, canary, total) => {
        const fields = { maxConcurrency: concurrency, maxErrors: errors, canary } as const;
        const parsed = Object.entries(fields).map(([field, text]) => [
          field,
          parseRate(field as keyof typeof fields, text),
        ]) as [keyof typeof fields, ReturnType<typeof parseRate>][];
        const input = Object.fromEntries(parsed.map(([field, p]) => [field, p.ok ? p.value : fields[field]]));
        let serverOk = true;
        try {
          validateRateControl(input);
        } catch {
          serverOk = false;
        }
        assert.equal(
          parsed.every(([, p]) => p.ok),
          serverOk,
          JSON.stringify(fields),
        );
        if (serverOk) assert.deepEqual(resolveRates(input, total), resolveRateControl(input, total));
      }),
      { numRuns: 1000 },
    );
  });
});
