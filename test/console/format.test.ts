// How the console words states, times and errors (lib/console/assets/format.js): every state has
// a symbol and a word, durations read as people say them, errors in SPEC 2.6's shape are one line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  countStates,
  describeError,
  describeState,
  elapsedBetween,
  failingChecks,
  formatElapsed,
  formatTime,
  hostHealth,
} from '../../lib/console/assets/format.js';
import { ERROR_CODES } from '../../lib/errors.ts';
import { UNREACHABLE_CODES } from '../../lib/fleet/run-fleet.ts';

describe('states', () => {
  it('every state the API reports has a symbol and a word, distinct across health states', () => {
    const states = ['healthy', 'degraded', 'down', 'unreachable', 'error', 'running', 'pending'];
    states.push('succeeded', 'partial', 'failed', 'skipped', 'passed', 'unhealthy', 'checking', 'ended');
    for (const state of states) {
      const described = describeState(state);
      assert.ok(described.symbol.length > 0 && described.text.length > 0, state);
      assert.notEqual(described.symbol, '?', `${state} has no symbol of its own`);
    }
    const health = ['healthy', 'degraded', 'down', 'unreachable'].map((s) => describeState(s));
    assert.equal(new Set(health.map((d) => d.symbol)).size, 4, 'health states need distinct symbols');
    assert.deepEqual(describeState('mystery'), { symbol: '?', text: 'mystery', tone: 'muted' });
  });

  it("reads a host's health from its heartbeat, or from its heartbeat's error", () => {
    assert.equal(hostHealth({ appstack: { status: 'degraded' } }, undefined), 'degraded');
    assert.equal(hostHealth(undefined, undefined), 'unknown');
    for (const code of UNREACHABLE_CODES) assert.equal(hostHealth(undefined, { code }), 'unreachable');
    assert.equal(hostHealth(undefined, { code: 'CONFIG_ERROR' }), 'error');
    assert.equal(hostHealth(undefined, { code: 'HTTP_403' }), 'error');
    // Every SPEC 2.6 code is one or the other.
    for (const code of ERROR_CODES) assert.match(hostHealth(undefined, { code }), /^(unreachable|error)$/);
  });

  it('counts always name the four health states', () => {
    assert.deepEqual(countStates([]), { healthy: 0, degraded: 0, down: 0, unreachable: 0 });
    assert.deepEqual(countStates(['healthy', 'down', 'healthy', 'error']), {
      healthy: 2,
      degraded: 0,
      down: 1,
      unreachable: 0,
      error: 1,
    });
  });

  it('lists failing checks with their detail', () => {
    const appstack = {
      products: {
        haproxy: {
          checks: [
            { check: 'process:haproxy', ok: true },
            { check: 'tcp:127.0.0.1:8404', ok: false, detail: 'refused' },
          ],
        },
        deepfiler: { checks: [{ check: 'systemd:deepfiler', ok: false }] },
      },
    };
    assert.deepEqual(failingChecks(appstack), [
      'haproxy: tcp:127.0.0.1:8404 (refused)',
      'deepfiler: systemd:deepfiler',
    ]);
    assert.deepEqual(failingChecks(undefined), []);
  });
});

describe('times', () => {
  it('formats durations', () => {
    assert.equal(formatElapsed(-5), '0s');
    assert.equal(formatElapsed(999), '0s');
    assert.equal(formatElapsed(42_000), '42s');
    assert.equal(formatElapsed(187_000), '3m 07s');
    assert.equal(formatElapsed(2 * 3_600_000 + 3 * 60_000 + 59_000), '2h 03m');
  });

  it('measures from start to finish, or to now while running', () => {
    const now = Date.parse('2026-01-01T10:01:05Z');
    assert.equal(elapsedBetween('2026-01-01T10:00:00Z', '2026-01-01T10:00:30Z', now), '30s');
    assert.equal(elapsedBetween('2026-01-01T10:00:00Z', null, now), '1m 05s');
    assert.equal(elapsedBetween(undefined, null, now), '');
    assert.equal(elapsedBetween('garbage', null, now), '');
  });

  it('shows stamps in UTC', () => {
    assert.equal(formatTime('2026-11-27T12:16:44.152Z'), '2026-11-27 12:16:44 UTC');
    assert.equal(formatTime(null), '–');
    assert.equal(formatTime('soon'), 'soon');
  });
});

describe('errors', () => {
  it("puts SPEC 2.6's shape in one line, details as key: value, the journal left out", () => {
    assert.deepEqual(
      describeError({
        status: 404,
        code: 'UNKNOWN_SERVER',
        message: 'unknown server "web-9"',
        details: { server: 'web-9', selector: ['a'], journal: { steps: [] } },
      }),
      {
        title: 'UNKNOWN_SERVER (HTTP 404): unknown server "web-9"',
        details: ['server: web-9', 'selector: ["a"]'],
      },
    );
    assert.deepEqual(describeError({}), { title: 'ERROR: no message', details: [] });
  });
});
