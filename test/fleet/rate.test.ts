import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BootstrapError } from '../../lib/errors.ts';
import { parseRateValue, resolveRateControl, validateRateControl } from '../../lib/fleet/rate.ts';

function invalid(fn: () => unknown, field: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BootstrapError);
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.equal(error.details['field'], field);
    return true;
  });
}

describe('rate control', () => {
  it('takes SPEC 4 defaults: 10 at a time, no error tolerated, one canary', () => {
    assert.deepEqual(resolveRateControl({}, 50), { maxConcurrency: 10, maxErrors: 0, canary: 1 });
  });

  it('accepts counts as numbers or digit strings', () => {
    assert.deepEqual(resolveRateControl({ maxConcurrency: 3, maxErrors: '2', canary: '0' }, 50), {
      maxConcurrency: 3,
      maxErrors: 2,
      canary: 0,
    });
  });

  it('rounds a concurrency percentage down, but never below one', () => {
    assert.equal(resolveRateControl({ maxConcurrency: '50%' }, 6).maxConcurrency, 3);
    assert.equal(resolveRateControl({ maxConcurrency: '50%' }, 5).maxConcurrency, 2);
    assert.equal(resolveRateControl({ maxConcurrency: '25%' }, 3).maxConcurrency, 1);
    assert.equal(resolveRateControl({ maxConcurrency: '1%' }, 0).maxConcurrency, 1);
    assert.equal(resolveRateControl({ maxConcurrency: '100%' }, 7).maxConcurrency, 7);
  });

  it('rounds an error percentage down, as SSM does for "10% of 50 stops at the sixth error"', () => {
    assert.equal(resolveRateControl({ maxErrors: '10%' }, 50).maxErrors, 5);
    assert.equal(resolveRateControl({ maxErrors: '25%' }, 6).maxErrors, 1);
    assert.equal(resolveRateControl({ maxErrors: '25%' }, 8).maxErrors, 2);
    assert.equal(resolveRateControl({ maxErrors: '10%' }, 5).maxErrors, 0);
    assert.equal(resolveRateControl({ maxErrors: '0%' }, 100).maxErrors, 0);
  });

  it('rounds a canary percentage up and caps the canary at the target count', () => {
    assert.equal(resolveRateControl({ canary: '10%' }, 5).canary, 1);
    assert.equal(resolveRateControl({ canary: '34%' }, 6).canary, 3);
    assert.equal(resolveRateControl({ canary: 4 }, 2).canary, 2);
    assert.equal(resolveRateControl({}, 0).canary, 0);
  });

  it('refuses values that are not a whole count or a 0–100 percentage', () => {
    for (const bad of [
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '',
      'ten',
      '1.5',
      '-3',
      '101%',
      '5.5%',
      '%',
      '08',
    ]) {
      invalid(() => parseRateValue('maxErrors', bad), 'maxErrors');
    }
    invalid(() => validateRateControl({ canary: '200%' }), 'canary');
    invalid(() => resolveRateControl({ maxErrors: 'x' }, 3), 'maxErrors');
  });

  it('refuses a concurrency of zero, which would never run anything', () => {
    invalid(() => parseRateValue('maxConcurrency', 0), 'maxConcurrency');
    invalid(() => parseRateValue('maxConcurrency', '0%'), 'maxConcurrency');
    invalid(() => validateRateControl({ maxConcurrency: '0' }), 'maxConcurrency');
    assert.doesNotThrow(() => validateRateControl({ maxConcurrency: '1%', maxErrors: 0, canary: '0%' }));
  });
});
