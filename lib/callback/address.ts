/**
 * What kind of network an IP address belongs to, for the callback's SSRF guard. Addresses are
 * classified from their bytes, so every spelling of one address gets one answer, and IPv6 forms
 * that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the address they
 * carry: `::ffff:169.254.169.254` is link-local, `::ffff:127.0.0.1` is loopback.
 */

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
  /** The address as given (zone id removed). */
  address: string;
  family: 4 | 6;
  category: AddressCategory;
  /** For IPv6 forms that carry an IPv4 address: that address, which decided the category. */
  embeddedIPv4?: string;
}

interface Rule {
  prefix: number[];
  bits: number;
  category: AddressCategory;
}

// First match wins, so the narrow metadata entries come before the ranges that contain them.
const IPV4_RULES: Rule[] = [
  { prefix: [0, 0, 0, 0], bits: 8, category: 'unspecified' },
  { prefix: [127, 0, 0, 0], bits: 8, category: 'loopback' },
  { prefix: [169, 254, 169, 254], bits: 32, category: 'metadata' },
  { prefix: [169, 254, 0, 0], bits: 16, category: 'link-local' },
  { prefix: [10, 0, 0, 0], bits: 8, category: 'private' },
  { prefix: [172, 16, 0, 0], bits: 12, category: 'private' },
  { prefix: [192, 168, 0, 0], bits: 16, category: 'private' },
  { prefix: [100, 64, 0, 0], bits: 10, category: 'private' }, // carrier-grade NAT, shared space
  { prefix: [224, 0, 0, 0], bits: 4, category: 'multicast' },
  { prefix: [240, 0, 0, 0], bits: 4, category: 'reserved' }, // includes 255.255.255.255
];

const IPV6_RULES: Rule[] = [
  { prefix: [0xfd, 0x00, 0x0e, 0xc2], bits: 32, category: 'metadata' }, // fd00:ec2::/32, AWS instance services
  { prefix: [0xfc], bits: 7, category: 'private' }, // unique local
  { prefix: [0xfe, 0x80], bits: 10, category: 'link-local' },
  { prefix: [0xfe, 0xc0], bits: 10, category: 'private' }, // deprecated site-local
  { prefix: [0xff], bits: 8, category: 'multicast' },
  { prefix: [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], bits: 48, category: 'private' }, // local-use NAT64
  { prefix: [0x20, 0x01, 0x00, 0x00], bits: 32, category: 'reserved' }, // Teredo hides its IPv4 peer
  { prefix: [0x20, 0x01, 0x0d, 0xb8], bits: 32, category: 'reserved' }, // documentation
  { prefix: [0x01, 0x00, 0, 0, 0, 0, 0, 0], bits: 64, category: 'reserved' }, // discard-only
];

function matches(bytes: number[], rule: Rule): boolean {
  for (let bit = 0; bit < rule.bits; bit += 8) {
    const take = Math.min(8, rule.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    const index = bit / 8;
    if (((bytes[index] ?? 0) & mask) !== ((rule.prefix[index] ?? 0) & mask)) return false;
  }
  return true;
}

/** Strict dotted-decimal IPv4 (what the URL parser and DNS produce), as four bytes. */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/** Any textual IPv6 address (with or without brackets, zone id ignored), as sixteen bytes. */
export function parseIPv6(text: string): number[] | undefined {
  let body = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = body.indexOf('%');
  if (zone >= 0) body = body.slice(0, zone);
  if (!/^[0-9a-fA-F:.]+$/.test(body)) return undefined;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.')) {
    const v4 = parseIPv4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = v4;
    const head = body.slice(0, lastColon + 1);
    body = head.endsWith('::') ? head : head.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string | undefined): string[] | undefined =>
    part === undefined || part === '' ? [] : part.split(':');
  const head = groupsOf(halves[0]);
  const rest = groupsOf(halves[1]);
  if (head === undefined || rest === undefined) return undefined;
  const wanted = 8 - tail.length / 2;
  const missing = wanted - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 1 ? 0 : missing).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    const value = Number.parseInt(group, 16);
    bytes.push(value >> 8, value & 0xff);
  }
  return [...bytes, ...tail];
}

function classifyIPv4Bytes(bytes: number[]): AddressCategory {
  return IPV4_RULES.find((rule) => matches(bytes, rule))?.category ?? 'public';
}

/** Where an IPv6 address carries an IPv4 one that a router or the kernel would reach instead. */
function embeddedIPv4(bytes: number[]): number[] | undefined {
  const zeros = (from: number, to: number): boolean => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12); // ::ffff:a.b.c.d
  if (zeros(0, 12)) return bytes.slice(12); // ::a.b.c.d, deprecated "compatible" form
  if (matches(bytes, { prefix: [0x00, 0x64, 0xff, 0x9b], bits: 96, category: 'public' })) {
    return bytes.slice(12); // 64:ff9b::/96, well-known NAT64
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6); // 2002::/16, 6to4
  return undefined;
}

/** Classifies one IP address; `undefined` when the text is not an IP address. */
export function classifyAddress(text: string): ClassifiedAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { address: text, family: 4, category: classifyIPv4Bytes(v4) };
  const v6 = parseIPv6(text);
  if (v6 === undefined) return undefined;
  const address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (v6.every((b) => b === 0)) return { address, family: 6, category: 'unspecified' };
  if (v6.slice(0, 15).every((b) => b === 0) && v6[15] === 1)
    return { address, family: 6, category: 'loopback' };
  const carried = embeddedIPv4(v6);
  if (carried !== undefined) {
    return { address, family: 6, category: classifyIPv4Bytes(carried), embeddedIPv4: carried.join('.') };
  }
  const rule = IPV6_RULES.find((candidate) => matches(v6, candidate));
  return { address, family: 6, category: rule?.category ?? 'public' };
}
