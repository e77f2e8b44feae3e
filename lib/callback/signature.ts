/**
 * `X-Bootstrap-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (SPEC 5): the
 * signer used for each delivery attempt, and the verifier receivers use.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Bootstrap-Signature';

function hmacHex(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** Signs a callback body at `nowSeconds`, giving the value of `X-Bootstrap-Signature`. */
export function signCallbackBody(body: string, secret: string, nowSeconds: number): string {
  const timestamp = String(Math.floor(nowSeconds));
  return `t=${timestamp},v1=${hmacHex(secret, timestamp, body)}`;
}

/**
 * Checks an `X-Bootstrap-Signature` header against the raw body with a constant-time compare,
 * and rejects timestamps more than `toleranceSeconds` away from now.
 */
export function verifySignature(
  body: string,
  header: string,
  secret: string,
  toleranceSeconds: number,
  nowSeconds: number = Date.now() / 1000,
): boolean {
  // Parsed strictly (no trimming, no case folding, one `t`): a header that differs by one byte
  // from what the signer produced must never verify.
  let timestamp: string | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return false;
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 't') {
      if (timestamp !== undefined || !/^[0-9]{1,15}$/.test(value)) return false;
      timestamp = value;
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return false;
      candidates.push(value);
    }
    // Other keys (a future v2) are ignored so that receivers keep working when one is added.
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (!(toleranceSeconds >= 0) || Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'utf8');
  let valid = false;
  // Several v1 entries let a sender sign with an old and a new secret while they rotate.
  for (const candidate of candidates) {
    if (timingSafeEqual(Buffer.from(candidate, 'utf8'), expected)) valid = true;
  }
  return valid;
}
