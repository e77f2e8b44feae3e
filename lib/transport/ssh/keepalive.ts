/**
 * SSH-level keepalives (OpenSSH's `ServerAliveInterval` / `ServerAliveCountMax`): a request
 * the server must answer, every interval; after `countMax` unanswered ones the connection is
 * declared dead, so a program followed over a silently broken link fails instead of hanging.
 *
 * ssh2's own keepalive runs on a timer that cannot be unref'd, so an idle pooled connection
 * would keep the process alive; this timer is unref'd. The request is a cancel of a port
 * forwarding that does not exist: servers answer it with a failure and change nothing, and it
 * is the round trip ssh2's public API offers.
 */
import type { Client as Ssh2Client } from 'ssh2';

/** Starts keepalives on an authenticated client; returns the function that stops them. */
export function startKeepalive(
  client: Ssh2Client,
  intervalMs: number,
  countMax: number,
  onDead: () => void,
): () => void {
  if (intervalMs <= 0) return () => {};
  let unanswered = 0;
  const timer = setInterval(() => {
    if (unanswered >= countMax) {
      clearInterval(timer);
      onDead();
      return;
    }
    unanswered += 1;
    try {
      client.unforwardIn('127.0.0.1', 0, () => {
        unanswered = 0;
      });
    } catch {
      // Not connected any more: the client's 'close' reports it.
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
