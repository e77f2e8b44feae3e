import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { present } from '../lib/optional.ts';

describe('present', () => {
  it('keeps the fields that have a value and leaves out the undefined ones', () => {
    const kept = present({ a: 1, b: undefined, c: null, d: '', e: 0, f: false });
    assert.deepEqual(kept, { a: 1, c: null, d: '', e: 0, f: false });
    assert.equal(Object.hasOwn(kept, 'b'), false);
  });

  it('spreads into an object with optional fields', () => {
    const timeoutMs: number | undefined = undefined;
    const request: { program: string; timeoutMs?: number } = { program: 'true', ...present({ timeoutMs }) };
    assert.deepEqual(request, { program: 'true' });
  });
});
