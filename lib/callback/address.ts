/**
 * What kind of network an IP address belongs to, for the callback's SSRF guard. Addresses are
 * parsed and matched against the IANA special-purpose ranges by `ipaddr.js` (its `range()`), so
 * every spelling of one address gets one answer. IPv6 forms that carry an IPv4 address
 * (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64 64:ff9b::/96, 6to4, Teredo) are judged by
 * the address they carry: `::ffff:169.254.169.254` and `::ffff:0:a9fe:a9fe` are link-local.
 */
import ipaddr from 'ipaddr.js';
import { present } from '../optional.ts';

export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export interface ClassifiedAddress {
  /** The address as given (brackets and zone id removed). */
  address: string;
  family: 4 | 6;
  category: AddressCategory;
  /** `ipaddr.js`'s name of the special-purpose range (`unicast` for none), of the address itself. */
  range: string;
  /** For IPv6 forms that carry an IPv4 address: that address, which decided the category. */
  embeddedIPv4?: string;
}

/** Strict dotted-decimal IPv4 (what the URL parser and DNS produce), as four bytes. */
export function parseIPv4(text: string): number[] | undefined {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).octets : undefined;
}

/** `ipaddr.js` range names → the guard's categories (any name not listed is `reserved`). */
const CATEGORY_OF_RANGE: Readonly<Record<string, AddressCategory>> = Object.assign(Object.create(null), {
  unicast: 'public',
  unspecified: 'unspecified',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  private: 'private',
  carrierGradeNat: 'private',
  uniqueLocal: 'private',
  deprecatedSiteLocal: 'private',
});

/**
 * Special-purpose ranges of the IANA registries that `ipaddr.js` 2.5 does not name yet; first
 * match wins. fd00:ec2::/32 is AWS's IPv6 instance metadata service, inside unique-local.
 */
const EXTRA_IPV6_RANGES: ReadonlyArray<{
  cidr: [ipaddr.IPv6, number];
  category: AddressCategory;
  range: string;
}> = [
  { cidr: ipaddr.IPv6.parseCIDR('fd00:ec2::/32'), category: 'metadata', range: 'awsInstanceMetadata' },
  { cidr: ipaddr.IPv6.parseCIDR('100:0:0:1::/64'), category: 'reserved', range: 'dummy' }, // RFC 9780
  { cidr: ipaddr.IPv6.parseCIDR('64:ff9b:1::/48'), category: 'private', range: 'localUseNat64' }, // RFC 8215
];

const IMDS_V4 = '169.254.169.254';

function classifyIPv4(ip: ipaddr.IPv4): { category: AddressCategory; range: string } {
  const range = ip.range();
  if (ip.toString() === IMDS_V4) return { category: 'metadata', range };
  return { category: CATEGORY_OF_RANGE[range] ?? 'reserved', range };
}

const v4 = (high: number, low: number): ipaddr.IPv4 =>
  new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);

/**
 * The IPv4 address an IPv6 one carries, where a translator, a tunnel or the kernel would reach
 * that IPv4 address instead. Teredo (2001::/32) carries its client's address inverted in the
 * last 32 bits; the range stays refused whatever it carries.
 */
function embeddedIPv4(ip: ipaddr.IPv6, range: string): ipaddr.IPv4 | undefined {
  const p = ip.parts as [number, number, number, number, number, number, number, number];
  const zeros = (from: number, to: number) => p.slice(from, to).every((part) => part === 0);
  switch (range) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d, IPv4-translated
      return v4(p[6], p[7]);
    case 'rfc6052': // 64:ff9b::/96 (the local-use /48 has no fixed place for it)
      return zeros(2, 6) && p[1] === 0xff9b ? v4(p[6], p[7]) : undefined;
    case '6to4': // 2002:AABB:CCDD::/48
      return v4(p[1], p[2]);
    case 'teredo':
      return v4(p[6] ^ 0xffff, p[7] ^ 0xffff);
    default:
      // ::a.b.c.d, the deprecated IPv4-compatible form (:: and ::1 are ranges of their own).
      return range === 'unicast' && zeros(0, 6) ? v4(p[6], p[7]) : undefined;
  }
}

function classifyIPv6(ip: ipaddr.IPv6): { category: AddressCategory; range: string; carried?: ipaddr.IPv4 } {
  const extra = EXTRA_IPV6_RANGES.find((entry) => ip.match(entry.cidr));
  if (extra) return { category: extra.category, range: extra.range };
  const range = ip.range() as string;
  const carried = embeddedIPv4(ip, range);
  if (carried === undefined) return { category: CATEGORY_OF_RANGE[range] ?? 'reserved', range };
  const inner = classifyIPv4(carried);
  // Teredo is refused whatever it carries: reserved, unless what it carries is worse.
  const teredoReserved = range === 'teredo' && (inner.category === 'public' || inner.category === 'private');
  const category = teredoReserved ? 'reserved' : inner.category;
  return { category, range, carried };
}

/** Classifies one IP address; `undefined` when the text is not an IP address in a standard form. */
export function classifyAddress(text: string): ClassifiedAddress | undefined {
  if (parseIPv4(text) !== undefined) {
    return { address: text, family: 4, ...classifyIPv4(ipaddr.IPv4.parse(text)) };
  }
  const body = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!ipaddr.IPv6.isValid(body)) return undefined;
  const address = body.replace(/%.*$/, '');
  const { carried, ...found } = classifyIPv6(ipaddr.IPv6.parse(address));
  return {
    address,
    family: 6,
    ...found,
    ...present({ embeddedIPv4: carried?.toString() }),
  };
}
