/**
 * The callback's SSRF guard over every special-purpose range of the IANA registries, in every
 * textual form a URL or a resolver can give an address, with no socket opened for a refusal.
 *
 * Sources (the tables below copy them, row by row):
 * - IANA IPv4 Special-Purpose Address Registry,
 *   https://www.iana.org/assignments/iana-ipv4-special-registry/ (updated 2025-06)
 * - IANA IPv6 Special-Purpose Address Registry,
 *   https://www.iana.org/assignments/iana-ipv6-special-registry/ (updated 2025-06)
 * - plus what sits outside those two registries but a guard must know: multicast (224.0.0.0/4,
 *   ff00::/8, IANA's multicast registries), IPv4-translated ::ffff:0:0:0/96 (RFC 6145), the
 *   deprecated IPv4-compatible ::/96 (RFC 4291) and site-local fec0::/10 (RFC 3879), and AWS's
 *   IPv6 instance metadata service fd00:ec2::/32.
 *
 * The policy (SPEC 5): `private` rows are refused unless CALLBACK_ALLOW_PRIVATE; `loopback` rows
 * only when the URL's host is written literally as 127.x.x.x or [::1]; `embeds` rows are judged by
 * the IPv4 address they carry; every other row is refused always.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  checkCallbackTarget,
  classifyAddress,
  type DeliverCallbackOptions,
  deliverCallback,
  parseCallbackUrl,
} from '../lib/callback/index.ts';
import { BootstrapError } from '../lib/errors.ts';
import { type ConnectionWatch, watchOutgoingConnections } from './support/callback-receiver.ts';

type Verdict = 'refused' | 'private' | 'loopback' | 'embeds' | 'public';
type Judged = Exclude<Verdict, 'embeds'>;

const IPV4_REGISTRY: [cidr: string, name: string, verdict: Verdict][] = [
  ['0.0.0.0/8', '"This network" (RFC 791)', 'refused'],
  ['0.0.0.0/32', '"This host on this network" (RFC 1122)', 'refused'],
  ['10.0.0.0/8', 'Private-Use (RFC 1918)', 'private'],
  ['100.64.0.0/10', 'Shared Address Space (RFC 6598)', 'private'],
  ['127.0.0.0/8', 'Loopback (RFC 1122)', 'loopback'],
  ['169.254.0.0/16', 'Link Local (RFC 3927)', 'refused'],
  ['169.254.169.254/32', 'Instance metadata (inside link local)', 'refused'],
  ['172.16.0.0/12', 'Private-Use (RFC 1918)', 'private'],
  ['192.0.0.0/24', 'IETF Protocol Assignments (RFC 6890)', 'refused'],
  ['192.0.0.0/29', 'IPv4 Service Continuity Prefix (RFC 7335)', 'refused'],
  ['192.0.0.8/32', 'IPv4 dummy address (RFC 7600)', 'refused'],
  ['192.0.0.9/32', 'Port Control Protocol Anycast (RFC 7723)', 'refused'],
  ['192.0.0.10/32', 'Traversal Using Relays around NAT Anycast (RFC 8155)', 'refused'],
  ['192.0.0.170/32', 'NAT64/DNS64 Discovery (RFC 8880)', 'refused'],
  ['192.0.0.171/32', 'NAT64/DNS64 Discovery (RFC 8880)', 'refused'],
  ['192.0.2.0/24', 'Documentation TEST-NET-1 (RFC 5737)', 'refused'],
  ['192.31.196.0/24', 'AS112-v4 (RFC 7535)', 'refused'],
  ['192.52.193.0/24', 'AMT (RFC 7450)', 'refused'],
  ['192.88.99.0/24', 'Deprecated 6to4 Relay Anycast (RFC 7526)', 'refused'],
  ['192.168.0.0/16', 'Private-Use (RFC 1918)', 'private'],
  ['192.175.48.0/24', 'Direct Delegation AS112 Service (RFC 7534)', 'refused'],
  ['198.18.0.0/15', 'Benchmarking (RFC 2544)', 'refused'],
  ['198.51.100.0/24', 'Documentation TEST-NET-2 (RFC 5737)', 'refused'],
  ['203.0.113.0/24', 'Documentation TEST-NET-3 (RFC 5737)', 'refused'],
  ['240.0.0.0/4', 'Reserved (RFC 1112)', 'refused'],
  ['255.255.255.255/32', 'Limited Broadcast (RFC 919)', 'refused'],
  ['224.0.0.0/4', 'Multicast (RFC 5771; multicast registry)', 'refused'],
];

const IPV6_REGISTRY: [cidr: string, name: string, verdict: Verdict][] = [
  ['::1/128', 'Loopback Address (RFC 4291)', 'loopback'],
  ['::/128', 'Unspecified Address (RFC 4291)', 'refused'],
  ['::ffff:0:0/96', 'IPv4-mapped Address (RFC 4291)', 'embeds'],
  ['64:ff9b::/96', 'IPv4-IPv6 Translat. (RFC 6052)', 'embeds'],
  ['64:ff9b:1::/48', 'IPv4-IPv6 Translat., local use (RFC 8215)', 'private'],
  ['100::/64', 'Discard-Only Address Block (RFC 6666)', 'refused'],
  ['100:0:0:1::/64', 'Dummy IPv6 Prefix (RFC 9780)', 'refused'],
  ['2001::/23', 'IETF Protocol Assignments (RFC 2928)', 'refused'],
  ['2001::/32', 'TEREDO (RFC 4380)', 'refused'],
  ['2001:1::1/128', 'Port Control Protocol Anycast (RFC 7723)', 'refused'],
  ['2001:1::2/128', 'Traversal Using Relays around NAT Anycast (RFC 8155)', 'refused'],
  ['2001:1::3/128', 'DNS-SD Service Registration Protocol Anycast (RFC 9665)', 'refused'],
  ['2001:2::/48', 'Benchmarking (RFC 5180)', 'refused'],
  ['2001:3::/32', 'AMT (RFC 7450)', 'refused'],
  ['2001:4:112::/48', 'AS112-v6 (RFC 7535)', 'refused'],
  ['2001:10::/28', 'Deprecated ORCHID (RFC 4843)', 'refused'],
  ['2001:20::/28', 'ORCHIDv2 (RFC 7343)', 'refused'],
  ['2001:30::/28', 'Drone Remote ID Protocol Entity Tags (RFC 9374)', 'refused'],
  ['2001:db8::/32', 'Documentation (RFC 3849)', 'refused'],
  ['2002::/16', '6to4 (RFC 3056)', 'embeds'],
  ['2620:4f:8000::/48', 'Direct Delegation AS112 Service (RFC 7534)', 'refused'],
  ['3fff::/20', 'Documentation (RFC 9637)', 'refused'],
  ['5f00::/16', 'Segment Routing (SRv6) SIDs (RFC 9602)', 'refused'],
  ['fc00::/7', 'Unique-Local (RFC 4193)', 'private'],
  ['fd00:ec2::/32', 'AWS instance metadata (inside unique-local)', 'refused'],
  ['fe80::/10', 'Link-Local Unicast (RFC 4291)', 'refused'],
  ['ff00::/8', 'Multicast (RFC 4291; multicast registry)', 'refused'],
  ['::ffff:0:0:0/96', 'IPv4-translated (RFC 6145)', 'embeds'],
  ['::/96', 'IPv4-compatible, deprecated (RFC 4291)', 'embeds'],
  ['fec0::/10', 'Site-local, deprecated (RFC 3879)', 'private'],
];

/** Just outside the ranges above: public, so the guard does not refuse too much. */
const PUBLIC = [
  '1.1.1.1',
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.0',
  '192.0.3.0',
  '192.88.98.255',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2606:4700::1111',
  '2001:200::1',
  '2001:db9::1',
  '2003::1',
  '2620:4f:8001::1',
  '3fff:1000::1',
  'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '::ffff:8.8.8.8',
  '64:ff9b::808:808',
  '2002:808:808::1',
];

// ---- address arithmetic, done here rather than by the library under test ----

function ipv4ToInt(text: string): number {
  return text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}
function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}
function ipv6ToBig(text: string): bigint {
  const expanded = new URL(`http://[${text}]/`).hostname.slice(1, -1); // canonical, compressed
  const [head = '', tail = ''] = expanded.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = expanded.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}
function groupsOf(n: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(16 * (7 - i))) & 0xffffn));
}
function samplesOf(cidr: string): string[] {
  const [base = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (base.includes(':')) {
    const host = 128 - bits;
    const first = ipv6ToBig(base);
    const last = first | ((1n << BigInt(host)) - 1n);
    const middle = first | ((1n << BigInt(Math.max(host - 1, 0))) - 1n) | (host > 0 ? 0x5an : 0n);
    return [...new Set([first, middle, last])].map((n) =>
      groupsOf(n)
        .map((g) => g.toString(16))
        .join(':'),
    );
  }
  const size = 2 ** (32 - bits);
  const first = ipv4ToInt(base);
  return [...new Set([first, first + Math.floor(size / 2) + (size > 2 ? 1 : 0), first + size - 1])].map(
    intToIpv4,
  );
}

/** Every way a URL can spell an IPv4 address (the WHATWG parser turns each into dotted decimal). */
function ipv4UrlHosts(address: string): string[] {
  const n = ipv4ToInt(address);
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return [
    address,
    `${address}.`,
    [a, b, c, d].map((o) => `0${o.toString(8)}`).join('.'),
    [a, b, c, d].map((o) => `0x${o.toString(16)}`).join('.'),
    [a, b, c, d].map((o) => `0X${o.toString(16).padStart(2, '0').toUpperCase()}`).join('.'),
    String(n),
    `0x${n.toString(16)}`,
    `0${n.toString(8)}`,
    `${a}.${b}.${c * 256 + d}`,
    `${a}.${b * 65536 + c * 256 + d}`,
    [...address].map((ch) => `%${ch.charCodeAt(0).toString(16)}`).join(''),
  ];
}

/** IPv6 forms that carry an IPv4 address, each as a URL host. */
function embeddingHosts(address: string): { host: string; teredo: boolean }[] {
  const n = ipv4ToInt(address);
  const hi = (n >>> 16).toString(16);
  const lo = (n & 0xffff).toString(16);
  const inv = (x: number) => (x ^ 0xffff).toString(16);
  return [
    { host: `[::ffff:${address}]`, teredo: false },
    { host: `[::ffff:${hi}:${lo}]`, teredo: false },
    { host: `[0:0:0:0:0:ffff:${address}]`, teredo: false },
    { host: `[::ffff:0:${address}]`, teredo: false },
    { host: `[0000:0000:0000:0000:ffff:0000:${hi}:${lo}]`, teredo: false },
    { host: `[64:ff9b::${address}]`, teredo: false },
    { host: `[64:ff9b:0:0:0:0:${hi}:${lo}]`, teredo: false },
    { host: `[2002:${hi}:${lo}::1]`, teredo: false },
    { host: `[2002:${hi}:${lo}:ffff::${address}]`, teredo: false },
    { host: `[2001:0:4136:e378:8000:63bf:${inv(n >>> 16)}:${inv(n & 0xffff)}]`, teredo: true },
  ];
}

/** Every way a URL can spell an IPv6 address. */
function ipv6UrlHosts(address: string): string[] {
  const groups = groupsOf(ipv6ToBig(address));
  const hex = groups.map((g) => g.toString(16));
  const last32 = `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  return [
    `[${new URL(`http://[${address}]/`).hostname.slice(1, -1)}]`, // compressed, RFC 5952
    `[${groups.map((g) => g.toString(16).padStart(4, '0')).join(':')}]`, // expanded
    `[${hex.join(':')}]`,
    `[${hex.join(':').toUpperCase()}]`,
    `[${hex.slice(0, 6).join(':')}:${last32}]`, // mixed notation
  ];
}

const options = (extra: Partial<DeliverCallbackOptions> = {}): DeliverCallbackOptions => ({
  userAgentVersion: 'test',
  backoffBaseMs: 1,
  timeoutMs: 2_000,
  lookup: async () => {
    throw new Error('no lookup expected');
  },
  ...extra,
});

describe('callback SSRF guard over the IANA special-purpose registries', () => {
  let watch: ConnectionWatch;
  before(() => {
    watch = watchOutgoingConnections();
  });
  after(() => {
    watch.restore();
    assert.deepEqual(watch.attempts, [], 'no socket may be opened by this file');
  });

  async function refused(url: string, allowPrivate: boolean, why: string): Promise<void> {
    const outcome = await deliverCallback(url, { operationId: 'op_r' }, options({ allowPrivate }));
    assert.equal(outcome.delivered, false, `${why}: ${url}`);
    assert.equal(outcome.attempts, 0, `${why}: ${url}`);
    assert.match(outcome.lastError ?? '', /^callback URL refused: /, `${why}: ${url}`);
  }

  function allowedWithoutConnecting(url: string, allowPrivate: boolean, why: string): void {
    assert.doesNotThrow(() => parseCallbackUrl(url, { allowPrivate }), `${why}: ${url} should pass`);
  }

  /** What the guard must do with a URL whose host means an address of `verdict`. */
  async function judge(url: string, verdict: Judged, literal: boolean, why: string) {
    if (verdict === 'public') {
      allowedWithoutConnecting(url, false, why);
    } else if (verdict === 'refused') {
      await refused(url, false, why);
      await refused(url, true, why);
    } else if (verdict === 'private') {
      await refused(url, false, why);
      allowedWithoutConnecting(url, true, why);
    } else if (literal) {
      allowedWithoutConnecting(url, false, why);
    } else {
      await refused(url, true, why);
    }
  }

  for (const [cidr, name, verdict] of IPV4_REGISTRY) {
    it(`IPv4 ${cidr} ${name}: ${verdict}, in every spelling and every IPv6 form that carries it`, async () => {
      for (const address of samplesOf(cidr)) {
        for (const host of ipv4UrlHosts(address)) {
          const literal = host === address; // only plain dotted decimal is a literal loopback
          await judge(`https://${host}:8443/hook`, verdict as Judged, literal, name);
          if (verdict === 'loopback') await judge(`http://${host}:8080/hook`, 'loopback', literal, name);
        }
        for (const { host, teredo } of embeddingHosts(address)) {
          const carried = teredo ? 'refused' : verdict === 'loopback' ? 'refused' : verdict;
          await judge(`https://${host}/hook`, carried as Judged, false, `${name} in ${host}`);
        }
      }
    });
  }

  for (const [cidr, name, verdict] of IPV6_REGISTRY) {
    it(`IPv6 ${cidr} ${name}: ${verdict}, in every spelling`, async () => {
      for (const address of samplesOf(cidr)) {
        const expected = verdict === 'embeds' ? embeddedVerdict(address) : verdict;
        for (const host of ipv6UrlHosts(address)) {
          const literal = host === '[::1]';
          await judge(`https://${host}:8443/hook`, expected, literal, `${name} ${address}`);
        }
        // Zone ids: the URL parser refuses them; a resolver may answer them.
        await refused(`https://[${address}%25eth0]/hook`, true, `${name} with a zone id`);
        const lookup = async () => [{ address: `${address}%eth0`, family: 6 }];
        const check = checkCallbackTarget('https://hook.example/x', lookup, { allowPrivate: true });
        if (expected === 'private') await check;
        else
          await assert.rejects(
            check,
            (e: unknown) => e instanceof BootstrapError && e.code === 'INVALID_REQUEST',
            `${name}: ${address}%eth0 from a lookup`,
          );
      }
    });
  }

  it('treats the addresses just outside every range as public', async () => {
    for (const address of PUBLIC) {
      assert.equal(classifyAddress(address)?.category, 'public', address);
      const host = address.includes(':') ? `[${address}]` : address;
      allowedWithoutConnecting(`https://${host}/hook`, false, 'public');
      const target = await checkCallbackTarget('https://hook.example/', async () => [
        { address, family: address.includes(':') ? 6 : 4 },
      ]);
      assert.equal(target.address, address);
    }
  });

  it('refuses the IPv4-translated form of the metadata service and names what it carries', () => {
    for (const host of ['[::ffff:0:a9fe:a9fe]', '[::ffff:0:169.254.169.254]', '[0:0:0:0:ffff:0:a9fe:a9fe]']) {
      assert.throws(
        () => parseCallbackUrl(`https://${host}/latest/meta-data/`, { allowPrivate: true }),
        (e: unknown) => e instanceof BootstrapError && e.code === 'INVALID_REQUEST',
        host,
      );
    }
    assert.equal(classifyAddress('::ffff:0:a9fe:a9fe')?.embeddedIPv4, '169.254.169.254');
  });
});

/** The verdict for an IPv6 address that carries an IPv4 one: that address's, loopback refused. */
function embeddedVerdict(address: string): Judged {
  const g = groupsOf(ipv6ToBig(address));
  const carried = g[0] === 0x2002 ? ((g[1]! << 16) | g[2]!) >>> 0 : ((g[6]! << 16) | g[7]!) >>> 0;
  const row = IPV4_REGISTRY.filter(([cidr]) => {
    const [base = '', bits = ''] = cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    const start = ipv4ToInt(base);
    return carried >= start && carried < start + size;
  }).at(-1);
  if (!row) return 'public';
  return row[2] === 'private' ? 'private' : 'refused';
}
