/**
 * One write per burst. ssh2 hands its socket every encrypted packet as three chunks (length,
 * payload, tag: `lib/protocol/crypto.js`), and with Nagle off (connect.ts `openTcp`) each chunk is
 * its own syscall and its own TCP segment: 28 socket writes per heartbeat host (9 this way), and
 * sshd wakes for a 4-byte segment before the rest of the packet has come. Corking the stream on
 * the first write of a tick and uncorking it on the next sends everything ssh2 wrote in that tick
 * (a packet, or an exec request with its program and EOF) as one `writev`: one syscall, one
 * segment. Nothing waits longer than the end of the current tick. ssh2 allocates every packet
 * afresh and never touches one after writing it, so holding the chunks until the tick ends sends
 * the same bytes.
 */
import type { Duplex } from 'node:stream';

export function coalesceWrites(stream: Duplex): void {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let corked = false;
  const flush = () => {
    corked = false;
    stream.uncork();
  };
  stream.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      stream.cork();
      process.nextTick(flush);
    }
    return write(...args);
  }) as Duplex['write'];
}
