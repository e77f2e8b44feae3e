import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { coalesceWrites } from '../../lib/transport/ssh/coalesce.ts';
import { type SshdHost, sshTransportTo, startSshd } from '../support/sshd.ts';

/** Counts, on sockets to `port`, the writes asked for and the writes made to the kernel (`_write` or `_writev`). */
function countWrites(port: number) {
  const proto = Socket.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = { write: proto['write']!, _write: proto['_write']!, _writev: proto['_writev']! };
  const counts = { asked: 0, made: 0, chunks: 0 };
  const ours = (socket: Socket) => socket.remotePort === port;
  proto['write'] = function (this: Socket, ...args: unknown[]) {
    if (ours(this)) counts.asked += 1;
    return saved.write.apply(this, args);
  };
  proto['_write'] = function (this: Socket, ...args: unknown[]) {
    if (ours(this)) {
      counts.made += 1;
      counts.chunks += 1;
    }
    return saved._write.apply(this, args);
  };
  proto['_writev'] = function (this: Socket, ...args: unknown[]) {
    if (ours(this)) {
      counts.made += 1;
      counts.chunks += (args[0] as unknown[]).length;
    }
    return saved._writev.apply(this, args);
  };
  return {
    counts,
    restore: () => Object.assign(proto, saved),
  };
}

describe('writes to the SSH socket go one burst at a time', () => {
  let server: Server;
  let port: number;
  const received: Buffer[] = [];
  before(async () => {
    server = createServer((sock) => {
      sock.on('data', (chunk) => received.push(chunk));
      sock.on('end', () => sock.end());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(() => server.close());

  it('the writes of one tick reach the kernel as one writev, in order; the next tick is its own', async () => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    await once(sock, 'connect');
    const spy = countWrites(port);
    coalesceWrites(sock);
    try {
      sock.write(Buffer.from('len:'));
      sock.write(Buffer.from('payload:'));
      sock.write(Buffer.from('tag;'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(spy.counts, { asked: 3, made: 1, chunks: 3 });
      sock.write(Buffer.from('next'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(spy.counts, { asked: 4, made: 2, chunks: 4 });
    } finally {
      spy.restore();
    }
    sock.end();
    await once(sock, 'close');
    assert.equal(Buffer.concat(received).toString(), 'len:payload:tag;next');
  });
});

describe('an SSH connection through real sshd writes whole packets', () => {
  let sshd: SshdHost;
  before(async () => {
    sshd = await startSshd();
  });
  after(() => sshd.stop());

  it('runs programs as before, with fewer kernel writes than ssh2 asked for', async () => {
    const spy = countWrites(sshd.port);
    const ssh = sshTransportTo(sshd, { hostSessions: false });
    try {
      const result = await ssh.exec({ program: `printf '%s\\n' "${'x'.repeat(3000)}"; echo done` });
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, `${'x'.repeat(3000)}\ndone\n`);
      assert.equal((await ssh.exec({ program: 'echo again' })).stdout, 'again\n');
    } finally {
      await ssh.close();
      spy.restore();
    }
    // Here ssh2 has its native add-on and hands over each packet whole; the bundles ship without
    // it, and there each packet comes as three chunks (the first test's shape). Either way a burst
    // such as the program's data with its EOF, or the exec's three, goes as one write.
    const { asked, made, chunks } = spy.counts;
    assert.equal(chunks, asked, 'every chunk asked for was written');
    assert.ok(asked >= 15, `only ${asked} writes asked for: not an SSH conversation`);
    assert.ok(made < asked, `${made} kernel writes for ${asked} asked for`);
  });
});
