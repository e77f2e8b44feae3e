import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type CallbackOutcome,
  checkCallbackTarget,
  type DeliverCallbackOptions,
  deliverCallback,
  type LookupAll,
  parseCallbackUrl,
} from '../lib/callback/index.ts';
import { BootstrapError } from '../lib/errors.ts';
import {
  type CallbackReceiver,
  type ConnectionWatch,
  startCallbackReceiver,
  watchOutgoingConnections,
} from './support/callback-receiver.ts';

const RESULT = { operationId: 'op_ssrf', status: 'succeeded' };

/** A lookup that answers from a script and counts its calls; unknown names get no address. */
function scriptedLookup(...answers: string[][]): LookupAll & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (name: string) => {
    calls.push(name);
    const answer = answers[Math.min(calls.length, answers.length) - 1] ?? [];
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(lookup, { calls });
}

function options(extra: Partial<DeliverCallbackOptions> = {}): DeliverCallbackOptions {
  return { userAgentVersion: 'test', secret: 's', backoffBaseMs: 1, timeoutMs: 2_000, ...extra };
}

describe('callback SSRF guard', () => {
  let receiver: CallbackReceiver;
  let watch: ConnectionWatch;
  let port: number;

  before(async () => {
    // Every connection this file's process starts is counted, and none may leave 127.0.0.0/8.
    watch = watchOutgoingConnections();
    receiver = await startCallbackReceiver([], { secret: 's' });
    port = receiver.port;
  });
  after(async () => {
    await receiver.close();
    watch.restore();
    assert.deepEqual(watch.blocked, [], 'a connection outside loopback was attempted');
  });

  /** Delivers and asserts a refusal with no socket opened anywhere. */
  async function assertRefused(
    url: string,
    extra: Partial<DeliverCallbackOptions> = {},
  ): Promise<CallbackOutcome> {
    const before = { attempts: watch.attempts.length, connections: receiver.connections() };
    const outcome = await deliverCallback(url, RESULT, options(extra));
    assert.equal(outcome.delivered, false, url);
    assert.equal(outcome.attempts, 0, url);
    assert.match(outcome.lastError ?? '', /^callback URL refused: /, url);
    assert.equal(watch.attempts.length, before.attempts, `${url}: a socket was opened`);
    assert.equal(receiver.connections(), before.connections, `${url}: the receiver was reached`);
    return outcome;
  }

  it('delivers to loopback written as such, over http', async () => {
    const direct = await deliverCallback(`http://127.0.0.1:${port}/ok`, RESULT, options());
    assert.deepEqual(direct, { delivered: true, attempts: 1, status: 200 });
    const lookup = scriptedLookup(['127.0.0.1']);
    const named = await deliverCallback(`http://localhost:${port}/ok`, RESULT, options({ lookup }));
    assert.deepEqual(named, { delivered: true, attempts: 1, status: 200 });
    assert.deepEqual(lookup.calls, ['localhost']);
  });

  it('requires https for anything but loopback, before any lookup', async () => {
    const lookup = scriptedLookup(['93.184.215.14']);
    for (const url of [
      `http://example.com:${port}/`,
      `http://10.0.0.5:${port}/`,
      `http://localhost.:${port}/`,
    ]) {
      const outcome = await assertRefused(url, { lookup, allowPrivate: true });
      assert.match(outcome.lastError ?? '', /https is required/);
    }
    assert.deepEqual(lookup.calls, []);
  });

  it('refuses other schemes, credentials in the URL, and non-URLs', async () => {
    for (const url of [
      `ftp://127.0.0.1:${port}/`,
      'https://user:pw@example.com/',
      'not a url',
      'file:///etc/passwd',
    ]) {
      await assertRefused(url);
    }
  });

  it('refuses link-local, metadata, unspecified, multicast and reserved addresses, even with allowPrivate', async () => {
    const urls = [
      `https://169.254.169.254:${port}/latest/meta-data/`,
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      `https://169.254.10.20:${port}/`,
      `https://[fd00:ec2::254]:${port}/`,
      `https://[fe80::1]:${port}/`,
      `https://0.0.0.0:${port}/`,
      `https://[::]:${port}/`,
      `https://224.0.0.1:${port}/`,
      `https://[ff02::1]:${port}/`,
      `https://255.255.255.255:${port}/`,
    ];
    for (const url of urls) {
      await assertRefused(url);
      await assertRefused(url, { allowPrivate: true });
    }
  });

  it('refuses private ranges unless allowPrivate', async () => {
    for (const url of [
      `https://10.0.0.5:${port}/`,
      `https://172.16.0.1:${port}/`,
      `https://172.31.255.254:${port}/`,
      `https://192.168.1.10:${port}/`,
      `https://100.64.0.1:${port}/`,
      `https://[fc00::1]:${port}/`,
      `https://[fd12:3456::1]:${port}/`,
    ]) {
      const outcome = await assertRefused(url);
      assert.match(outcome.lastError ?? '', /private range/);
      // Allowed by the guard with allowPrivate; checked without connecting (tests stay on loopback).
      assert.equal(parseCallbackUrl(url, { allowPrivate: true }).literalAddress?.category, 'private');
    }
  });

  it('refuses loopback in disguise, over http and https, even with allowPrivate', async () => {
    const hosts = [
      '[::ffff:127.0.0.1]',
      '[::ffff:7f00:1]',
      '[::127.0.0.1]',
      '[0:0:0:0:0:0:0:1]',
      '2130706433',
      '0177.0.0.1',
      '0x7f.0.0.1',
      '0x7f000001',
      '127.1',
      '%31%32%37.0.0.1',
      '127.0.0.1.',
    ];
    for (const host of hosts) {
      for (const scheme of ['http', 'https']) {
        await assertRefused(`${scheme}://${host}:${port}/`, { allowPrivate: true });
      }
    }
  });

  it('refuses encoded forms of forbidden addresses', async () => {
    for (const host of [
      '2852039166', // 169.254.169.254
      '0xa9fea9fe',
      '0251.0376.0251.0376',
      '169.254.43518', // 169.254.169.254, two-part-tail form
      '[::ffff:169.254.169.254]',
      '[64:ff9b::a9fe:a9fe]', // NAT64 of IMDS
      '[2002:a9fe:a9fe::1]', // 6to4 of IMDS
      '167772165', // 10.0.0.5
      '0xc0a80001', // 192.168.0.1
    ]) {
      await assertRefused(`https://${host}:${port}/`);
    }
  });

  it('refuses a name whose lookup answers a forbidden address, with one lookup and no socket', async () => {
    const cases: [string[], boolean][] = [
      [['10.1.2.3'], false],
      [['172.20.0.9'], false],
      [['169.254.169.254'], true],
      [['169.254.1.1'], true],
      [['fd00:ec2::254'], true],
      [['fe80::1'], true],
      [['127.0.0.1'], true], // loopback behind a name: how rebinding reaches local admin ports
      [['::ffff:127.0.0.1'], true],
      [['::1'], true],
      [['93.184.215.14', '10.0.0.1'], false], // one bad answer among good ones is enough
      [['not-an-address'], true],
    ];
    for (const [answer, evenIfPrivateAllowed] of cases) {
      const lookup = scriptedLookup(answer);
      await assertRefused(`https://callback.example:${port}/hook`, { lookup });
      assert.deepEqual(lookup.calls, ['callback.example'], answer.join());
      if (evenIfPrivateAllowed) {
        await assertRefused(`https://callback.example:${port}/hook`, { lookup, allowPrivate: true });
      }
    }
  });

  it('refuses localhost when its lookup answers anything but loopback', async () => {
    for (const answer of [['10.0.0.1'], ['93.184.215.14'], ['127.0.0.1', '169.254.169.254']]) {
      await assertRefused(`http://localhost:${port}/`, {
        lookup: scriptedLookup(answer),
        allowPrivate: true,
      });
    }
  });

  it('allows a name resolving to a private address with allowPrivate (checked, not connected)', async () => {
    const lookup = scriptedLookup(['10.1.2.3']);
    const target = await checkCallbackTarget('https://internal.example/hook', lookup, { allowPrivate: true });
    assert.equal(target.address, '10.1.2.3');
    assert.equal(target.hostname, 'internal.example');
    await assert.rejects(
      checkCallbackTarget('https://internal.example/hook', lookup, {}),
      (error: unknown) => error instanceof BootstrapError && error.code === 'INVALID_REQUEST',
    );
    const v6 = await checkCallbackTarget('https://[fd12::1]/hook', lookup, { allowPrivate: true });
    assert.equal(v6.address, 'fd12::1');
    const publicTarget = await checkCallbackTarget(
      'https://hooks.example/x',
      scriptedLookup(['93.184.215.14']),
    );
    assert.equal(publicTarget.address, '93.184.215.14');
    const ipv6Loopback = await checkCallbackTarget('http://[::1]:8080/x', lookup);
    assert.equal(ipv6Loopback.address, '::1');
    assert.equal(lookup.calls.length, 2);
  });

  it('connects to the validated address: a lookup that changes its answer is asked once', async () => {
    const rebound = await startCallbackReceiver([], { host: '127.0.0.2', port });
    try {
      receiver.setScript([500, 500, 200]);
      const before = receiver.requests.length;
      const lookup = scriptedLookup(['127.0.0.1'], ['127.0.0.2']);
      const outcome = await deliverCallback(`http://localhost:${port}/rebind`, RESULT, options({ lookup }));
      assert.deepEqual(outcome, { delivered: true, attempts: 3, status: 200 });
      assert.deepEqual(lookup.calls, ['localhost']);
      assert.equal(receiver.requests.length - before, 3);
      assert.equal(rebound.connections(), 0);
    } finally {
      await rebound.close();
    }
  });

  it('never asks the lookup again even when its later answer would be forbidden', async () => {
    receiver.setScript([503, 200]);
    const lookup = scriptedLookup(['127.0.0.1'], ['169.254.169.254']);
    const outcome = await deliverCallback(`http://localhost:${port}/rebind`, RESULT, options({ lookup }));
    assert.deepEqual(outcome, { delivered: true, attempts: 2, status: 200 });
    assert.deepEqual(lookup.calls, ['localhost']);
  });
});
