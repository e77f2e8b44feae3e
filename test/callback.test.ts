import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type CallbackLogRecord,
  callbackOptionsFromEnv,
  type DeliverCallbackOptions,
  deliverCallback,
  type LookupAll,
  resolveCallbackUrl,
  signCallbackBody,
  verifySignature,
} from '../lib/callback/index.ts';
import {
  type CallbackReceiver,
  createSelfSignedCert,
  startCallbackReceiver,
} from './support/callback-receiver.ts';

const SECRET = 'callback-secret-0f3a9c';
const RESULT = {
  operationId: 'op_01HZX3',
  command: 'product.upgrade',
  args: { product: 'deepfiler', version: '3.2.1' },
  status: 'succeeded',
  summary: { total: 1, succeeded: 1, failed: 0, unreachable: 0, skipped: 0 },
  targets: [{ server: 'web-1', status: 'succeeded', result: {} }],
};

/** Real sleeps, but short: the requested waits are recorded and checked instead of timed. */
function fastOptions(
  extra: Partial<DeliverCallbackOptions> = {},
): DeliverCallbackOptions & { waits: number[] } {
  const waits: number[] = [];
  return {
    userAgentVersion: '9.8.7',
    secret: SECRET,
    backoffBaseMs: 8,
    timeoutMs: 2_000,
    random: () => 0.5,
    sleep: (ms) => {
      waits.push(ms);
      return new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5)));
    },
    ...extra,
    waits,
  };
}

function header(request: { headers: Record<string, string | string[] | undefined> }, name: string): string {
  const value = request.headers[name];
  assert.equal(typeof value, 'string', `header ${name}`);
  return value as string;
}

describe('deliverCallback against a loopback receiver', () => {
  let receiver: CallbackReceiver;
  before(async () => {
    receiver = await startCallbackReceiver([], { secret: SECRET });
  });
  after(() => receiver.close());

  function fresh(script: Parameters<CallbackReceiver['setScript']>[0]): void {
    receiver.requests.length = 0;
    receiver.setScript(script);
  }

  it('POSTs the JSON result with the headers of SPEC 5 and a signature verifySignature accepts', async () => {
    fresh([200]);
    const outcome = await deliverCallback(`${receiver.url}/hooks/bootstrap`, RESULT, fastOptions());
    assert.deepEqual(outcome, { delivered: true, attempts: 1, status: 200 });
    assert.equal(receiver.requests.length, 1);
    const [request] = receiver.requests;
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/hooks/bootstrap');
    assert.equal(header(request, 'content-type'), 'application/json');
    assert.equal(header(request, 'user-agent'), 'cloudiq-bootstrap/9.8.7');
    assert.equal(header(request, 'idempotency-key'), RESULT.operationId);
    assert.deepEqual(JSON.parse(request.body), RESULT);
    assert.equal(request.signatureValid, true);
    const signature = header(request, 'x-bootstrap-signature');
    assert.match(signature, /^t=[0-9]+,v1=[0-9a-f]{64}$/);
    assert.equal(verifySignature(request.body, signature, 'another-secret', 300), false);
    assert.equal(verifySignature(`${request.body} `, signature, SECRET, 300), false);
  });

  it('sends no signature when no secret is configured', async () => {
    fresh([204]);
    const outcome = await deliverCallback(receiver.url, RESULT, fastOptions({ secret: undefined }));
    assert.equal(outcome.delivered, true);
    assert.equal(receiver.requests[0]?.headers['x-bootstrap-signature'], undefined);
  });

  it('500, 500, 200: delivered on attempt 3, same Idempotency-Key, a fresh signature each time', async () => {
    fresh([500, 500, 200]);
    let clock = Date.now();
    const options = fastOptions({ now: () => (clock += 1_000) });
    const outcome = await deliverCallback(receiver.url, RESULT, options);
    assert.deepEqual(outcome, { delivered: true, attempts: 3, status: 200 });
    assert.equal(receiver.requests.length, 3);
    const keys = receiver.requests.map((request) => header(request, 'idempotency-key'));
    assert.deepEqual(keys, [RESULT.operationId, RESULT.operationId, RESULT.operationId]);
    const signatures = receiver.requests.map((request) => header(request, 'x-bootstrap-signature'));
    assert.equal(new Set(signatures).size, 3);
    const stamps = signatures.map((signature) => Number(/^t=([0-9]+),/.exec(signature)?.[1]));
    assert.ok(stamps[0]! < stamps[1]! && stamps[1]! < stamps[2]!, `timestamps ${stamps.join(', ')}`);
    assert.deepEqual(
      receiver.requests.map((request) => request.signatureValid),
      [true, true, true],
    );
    // Full jitter with random() = 0.5 over a ceiling of 8·2^(n-1) ms.
    assert.deepEqual(options.waits, [4, 8]);
  });

  it('times out a receiver that never answers, and retries', async () => {
    fresh(['hang', 200]);
    const outcome = await deliverCallback(receiver.url, RESULT, fastOptions({ timeoutMs: 150 }));
    assert.deepEqual(outcome, { delivered: true, attempts: 2, status: 200 });
    assert.equal(receiver.requests.length, 2);
  });

  it('records the timeout when every attempt hangs', async () => {
    fresh(['hang', 'hang']);
    const outcome = await deliverCallback(
      receiver.url,
      RESULT,
      fastOptions({ timeoutMs: 100, maxAttempts: 2 }),
    );
    assert.equal(outcome.delivered, false);
    assert.equal(outcome.attempts, 2);
    assert.match(outcome.lastError ?? '', /timed out after 100 ms/);
    assert.equal(outcome.status, undefined);
  });

  it('does not follow a 302: the redirect target receives nothing', async () => {
    const elsewhere = await startCallbackReceiver();
    try {
      fresh([{ redirect: `${elsewhere.url}/stolen` }]);
      const outcome = await deliverCallback(receiver.url, RESULT, fastOptions());
      assert.equal(outcome.delivered, false);
      assert.equal(outcome.attempts, 1);
      assert.equal(outcome.status, 302);
      assert.match(outcome.lastError ?? '', /302.*redirects are not followed/);
      assert.equal(receiver.requests.length, 1);
      assert.equal(elsewhere.connections(), 0);
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  it('does not retry a 404', async () => {
    fresh([404, 200]);
    const options = fastOptions();
    const outcome = await deliverCallback(receiver.url, RESULT, options);
    assert.deepEqual(outcome, { delivered: false, attempts: 1, status: 404, lastError: 'HTTP 404' });
    assert.equal(receiver.requests.length, 1);
    assert.deepEqual(options.waits, []);
  });

  it('honours Retry-After in seconds on a 429', async () => {
    fresh([{ status: 429, headers: { 'Retry-After': '7' } }, 200]);
    const options = fastOptions();
    const outcome = await deliverCallback(receiver.url, RESULT, options);
    assert.deepEqual(outcome, { delivered: true, attempts: 2, status: 200 });
    assert.deepEqual(options.waits, [7_000]);
  });

  it('honours Retry-After as an HTTP date on a 503, and caps a very long one', async () => {
    const start = Math.floor(Date.now() / 1000) * 1000;
    fresh([
      { status: 503, headers: { 'Retry-After': new Date(start + 5_000).toUTCString() } },
      { status: 429, headers: { 'Retry-After': '86400' } },
      200,
    ]);
    const options = fastOptions({ now: () => start, retryAfterMaxMs: 20_000 });
    const outcome = await deliverCallback(receiver.url, RESULT, options);
    assert.equal(outcome.delivered, true);
    assert.deepEqual(options.waits, [5_000, 20_000]);
  });

  it('gives up after 5 failed attempts with the last error recorded', async () => {
    fresh([500, 502, 503, 500, 500, 200]);
    const options = fastOptions();
    const outcome = await deliverCallback(receiver.url, RESULT, options);
    assert.deepEqual(outcome, { delivered: false, attempts: 5, status: 500, lastError: 'HTTP 500' });
    assert.equal(receiver.requests.length, 5);
    assert.deepEqual(options.waits, [4, 8, 16, 32]);
  });

  it('retries network errors (connection refused)', async () => {
    const gone = await startCallbackReceiver();
    await gone.close();
    const outcome = await deliverCallback(gone.url, RESULT, fastOptions({ maxAttempts: 3 }));
    assert.equal(outcome.delivered, false);
    assert.equal(outcome.attempts, 3);
    assert.match(outcome.lastError ?? '', /ECONNREFUSED/);
  });

  it('logs structured records without the secret, the signature or the query string', async () => {
    fresh([500, 404]);
    const records: CallbackLogRecord[] = [];
    const outcome = await deliverCallback(
      `${receiver.url}/hook?token=query-token-77`,
      RESULT,
      fastOptions({ logger: (record) => records.push(record) }),
    );
    assert.equal(outcome.delivered, false);
    assert.deepEqual(
      records.map((record) => record.event),
      ['callback.retry', 'callback.failed'],
    );
    assert.equal(records[1]?.target, receiver.url);
    assert.equal(records[1]?.operationId, RESULT.operationId);
    const text = JSON.stringify(records);
    for (const secretish of [SECRET, 'v1=', 'query-token-77'])
      assert.ok(!text.includes(secretish), secretish);
  });

  it('never throws: a throwing logger and an unserialisable result still give an outcome', async () => {
    fresh([200]);
    const delivered = await deliverCallback(
      receiver.url,
      RESULT,
      fastOptions({
        logger: () => {
          throw new Error('logger down');
        },
      }),
    );
    assert.equal(delivered.delivered, true);
    const broken = { operationId: 'op_x', size: 10n } as unknown as typeof RESULT;
    const outcome = await deliverCallback(receiver.url, broken, fastOptions());
    assert.equal(outcome.delivered, false);
    assert.match(outcome.lastError ?? '', /internal error/);
  });
});

describe('deliverCallback over https', () => {
  it('keeps the name for TLS (SNI, certificate check, Host) while connecting to the validated address', async () => {
    const tls = createSelfSignedCert();
    const receiver = await startCallbackReceiver([200], { tls, secret: SECRET });
    try {
      const asked: string[] = [];
      const lookup: LookupAll = async (name) => {
        asked.push(name);
        return [{ address: '127.0.0.1', family: 4 }];
      };
      const url = `https://localhost:${receiver.port}/tls-hook`;
      const outcome = await deliverCallback(url, RESULT, fastOptions({ lookup, ca: tls.cert }));
      assert.deepEqual(outcome, { delivered: true, attempts: 1, status: 200 });
      assert.deepEqual(asked, ['localhost']);
      const [request] = receiver.requests;
      assert.equal(request?.servername, 'localhost');
      assert.equal(request?.headers.host, `localhost:${receiver.port}`);
      assert.equal(request?.signatureValid, true);
    } finally {
      await receiver.close();
    }
  });
});

describe('verifySignature', () => {
  const body = JSON.stringify(RESULT);
  const now = 1_750_000_000;

  it('accepts a fresh signature and rejects stale or future ones beyond the tolerance', () => {
    const signed = signCallbackBody(body, SECRET, now);
    assert.equal(verifySignature(body, signed, SECRET, 300, now + 300), true);
    assert.equal(verifySignature(body, signed, SECRET, 300, now - 300), true);
    assert.equal(verifySignature(body, signed, SECRET, 300, now + 301), false);
    assert.equal(verifySignature(body, signed, SECRET, 300, now - 301), false);
  });

  it('rejects malformed headers without throwing', () => {
    const signed = signCallbackBody(body, SECRET, now);
    const v1 = signed.split(',v1=')[1]!;
    for (const bad of [
      '',
      't=',
      `v1=${v1}`,
      `t=${now}`,
      `t=${now},t=${now},v1=${v1}`,
      `t=${now},v1=${v1.toUpperCase()}`,
    ]) {
      assert.equal(verifySignature(body, bad, SECRET, 300, now), false, bad);
    }
    assert.equal(verifySignature(body, `t=${now},v1=${'0'.repeat(64)},v1=${v1}`, SECRET, 300, now), true);
  });

  it('accepts what the signer produced and rejects any single-byte change to body or header', () => {
    const input = fc.record({
      body: fc.string({ unit: 'binary', maxLength: 200 }),
      secret: fc.string({ minLength: 1, maxLength: 40 }),
      t: fc.integer({ min: 0, max: 4_000_000_000 }),
    });
    fc.assert(
      fc.property(
        input,
        fc.nat(),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        (value, at, by) => {
          const signed = signCallbackBody(value.body, value.secret, value.t);
          assert.equal(verifySignature(value.body, signed, value.secret, 300, value.t), true);
          const chars = Array.from(value.body);
          if (chars.length > 0) {
            const i = at % chars.length;
            if (chars[i] !== by) {
              chars[i] = by;
              assert.equal(verifySignature(chars.join(''), signed, value.secret, 300, value.t), false);
            }
          }
          const bytes = Buffer.from(signed, 'latin1');
          const j = at % bytes.length;
          const changed = Buffer.from(bytes);
          changed[j] = (bytes[j]! + 1 + (by.codePointAt(0)! % 255)) % 256;
          assert.notEqual(changed[j], bytes[j]);
          assert.equal(
            verifySignature(value.body, changed.toString('latin1'), value.secret, 300, value.t),
            false,
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('resolveCallbackUrl and callbackOptionsFromEnv', () => {
  it('prefers the request URL, then the configured one, ignoring blanks', () => {
    assert.equal(resolveCallbackUrl('https://a.example/h', 'https://b.example/h'), 'https://a.example/h');
    assert.equal(resolveCallbackUrl(undefined, 'https://b.example/h'), 'https://b.example/h');
    assert.equal(resolveCallbackUrl('  ', null), undefined);
    assert.equal(resolveCallbackUrl(), undefined);
  });

  it('reads CALLBACK_SECRET and CALLBACK_ALLOW_PRIVATE', () => {
    assert.deepEqual(
      callbackOptionsFromEnv({ CALLBACK_SECRET: 's', CALLBACK_ALLOW_PRIVATE: 'true' }, '1.0.0'),
      {
        userAgentVersion: '1.0.0',
        secret: 's',
        allowPrivate: true,
      },
    );
    assert.deepEqual(callbackOptionsFromEnv({ CALLBACK_SECRET: '', CALLBACK_ALLOW_PRIVATE: '0' }, '1.0.0'), {
      userAgentVersion: '1.0.0',
      allowPrivate: false,
    });
  });
});
