/**
 * The callback's SSRF guard. A URL is parsed the way the WHATWG URL parser does it (so
 * `2130706433`, `0177.0.0.1`, `0x7f.1` and `%31…` all become the address they mean), its
 * resolved addresses are classified, and the one address that passed is the one connected to.
 *
 * What is allowed, explicitly:
 * - `https` to any public address; to private ranges only with `allowPrivate`.
 * - `http` or `https` to loopback only when the URL's host is written literally as `localhost`,
 *   a dotted-decimal `127.x.x.x` or `[::1]`, and then every address it resolves to is loopback.
 *   Any other way of reaching loopback (a disguised IPv4 form, `[::ffff:127.0.0.1]`, a name whose
 *   DNS answer is 127.0.0.1) is refused: that is how SSRF reaches local admin ports.
 * - Never: link-local (IMDS 169.254.169.254, fe80::/10), `fd00:ec2::/32`, unspecified,
 *   multicast, every other IANA special-purpose range (documentation, benchmarking, AS112, AMT,
 *   ORCHID, Teredo, …; see address.ts), and URLs carrying credentials.
 */
import { BootstrapError } from '../errors.ts';
import { type ClassifiedAddress, classifyAddress, parseIPv4 } from './address.ts';

/** Resolves a host name to all its addresses (injected; `dns.promises.lookup` with `all` by default). */
export type LookupAll = (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

export interface ParsedCallbackUrl {
  url: URL;
  secure: boolean;
  /** The host for `node:http`: an IP without brackets, or a DNS name. */
  hostname: string;
  port: number;
  /** Path and query, sent as the request target. */
  path: string;
  /** The literal IP when the URL names one, already validated. */
  literalAddress?: ClassifiedAddress;
  /** The host is written as `localhost`, `127.x.x.x` or `[::1]`, with nothing for the parser to rewrite. */
  literalLoopback: boolean;
}

export interface ValidatedTarget extends ParsedCallbackUrl {
  /** The address that passed the guard; the only one ever connected to. */
  address: string;
  family: 4 | 6;
}

function refuse(reason: string, details: Record<string, unknown> = {}): never {
  throw new BootstrapError('INVALID_REQUEST', `callback URL refused: ${reason}`, { reason, ...details });
}

/** The host as written, before the URL parser normalised it (undefined when it cannot be isolated). */
function hostAsWritten(raw: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#\\]*@)?(\[[^\]/?#\\]*\]|[^:/?#\\]*)/.exec(raw);
  return match?.[1]?.toLowerCase();
}

function isLoopbackSpelling(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return parseIPv4(hostname)?.[0] === 127;
}

function refusalFor(
  found: ClassifiedAddress,
  literalLoopback: boolean,
  allowPrivate: boolean,
): string | undefined {
  const { address, category } = found;
  if (literalLoopback) {
    return category === 'loopback' ? undefined : `${address} is not a loopback address`;
  }
  switch (category) {
    case 'public':
      return undefined;
    case 'private':
      return allowPrivate ? undefined : `${address} is in a private range (CALLBACK_ALLOW_PRIVATE allows it)`;
    case 'loopback':
      return `${address} is a loopback address reached through a name or a disguised form`;
    default:
      return `${address} is a ${category} address`;
  }
}

function check(
  found: ClassifiedAddress,
  host: string,
  literalLoopback: boolean,
  allowPrivate: boolean,
): void {
  const reason = refusalFor(found, literalLoopback, allowPrivate);
  if (reason !== undefined) refuse(reason, { host, address: found.address, category: found.category });
}

/**
 * Checks what can be checked without DNS (scheme, credentials, literal addresses), throwing
 * `INVALID_REQUEST`; usable at request validation time.
 */
export function parseCallbackUrl(raw: string, options: { allowPrivate?: boolean } = {}): ParsedCallbackUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refuse(`scheme ${url.protocol} is not http(s)`);
  if (url.username !== '' || url.password !== '') refuse('credentials in the URL are not allowed');
  const literalLoopback = hostAsWritten(raw) === url.hostname && isLoopbackSpelling(url.hostname);
  const secure = url.protocol === 'https:';
  if (!secure && !literalLoopback) refuse('https is required except to loopback', { host: url.host });
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const parsed: ParsedCallbackUrl = {
    url,
    secure,
    hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: `${url.pathname}${url.search}`,
    literalLoopback,
  };
  const literalAddress = classifyAddress(hostname);
  if (literalAddress !== undefined) {
    check(literalAddress, url.host, literalLoopback, options.allowPrivate === true);
    parsed.literalAddress = literalAddress;
  }
  return parsed;
}

/**
 * Resolves the URL's host once, refuses it unless every address passes, and returns the
 * address to connect to; lookup failures are thrown as they come (the caller may retry).
 */
export async function resolveCallbackTarget(
  parsed: ParsedCallbackUrl,
  lookup: LookupAll,
  options: { allowPrivate?: boolean } = {},
): Promise<ValidatedTarget> {
  if (parsed.literalAddress !== undefined) {
    return { ...parsed, address: parsed.literalAddress.address, family: parsed.literalAddress.family };
  }
  const answers = await lookup(parsed.hostname);
  if (answers.length === 0) throw new Error(`no address found for ${parsed.hostname}`);
  const classified: ClassifiedAddress[] = [];
  for (const answer of answers) {
    const found = classifyAddress(answer.address);
    if (found === undefined) refuse(`lookup answered ${answer.address}, which is not an IP address`);
    // All of them, not just the first: a resolver that mixes a public and a private answer is
    // exactly what a rebinding attacker would set up.
    check(found, parsed.url.host, parsed.literalLoopback, options.allowPrivate === true);
    classified.push(found);
  }
  const chosen = classified[0]!;
  return { ...parsed, address: chosen.address, family: chosen.family };
}

/** `parseCallbackUrl` then `resolveCallbackTarget`: the whole guard. */
export async function checkCallbackTarget(
  raw: string,
  lookup: LookupAll,
  options: { allowPrivate?: boolean } = {},
): Promise<ValidatedTarget> {
  return resolveCallbackTarget(parseCallbackUrl(raw, options), lookup, options);
}
