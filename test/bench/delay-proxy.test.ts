import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createDelayProxy, type DelayProxy } from '../../bench/delay-proxy.ts';

const RTT = 40;
// Timers may fire a millisecond early by rounding; delays are checked as lower bounds only.
const SLACK = 2;

/** A server that answers every line with `echo:<line>`, and remembers when each line came. */
function startEcho(): Promise<{ server: Server; port: number; arrivals: number[] }> {
  const arrivals: number[] = [];
  const server = createServer((socket: Socket) => {
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString();
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        arrivals.push(performance.now());
        socket.write(`echo:${buffered.slice(0, nl)}\n`);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
      }
    });
    socket.on('end', () => socket.end());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, arrivals });
    }),
  );
}

/** A client that reads whole lines. */
async function open(port: number) {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk.toString();
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      waiters.shift()?.();
    }
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  return {
    socket,
    lines,
    closed,
    async ask(line: string): Promise<string> {
      const done = new Promise<void>((resolve) => waiters.push(resolve));
      socket.write(`${line}\n`);
      await done;
      return lines.at(-1)!;
    },
  };
}

describe('delay proxy', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: DelayProxy;
  let port: number;

  before(async () => {
    echo = await startEcho();
    proxy = createDelayProxy(RTT);
    port = await proxy.listen('127.0.0.1', { host: '127.0.0.1', port: echo.port });
  });
  after(async () => {
    await proxy.close();
    await new Promise((resolve) => echo.server.close(resolve));
  });

  it('delays every answer by the RTT, and the first by the TCP handshake too', async () => {
    const before = proxy.counters();
    const client = await open(port);
    let t = performance.now();
    assert.equal(await client.ask('a'), 'echo:a');
    // SYN, SYN-ACK, ACK with the data, and the answer back: two RTTs.
    assert.ok(performance.now() - t >= 2 * RTT - SLACK, `first answer after ${performance.now() - t} ms`);
    for (const line of ['b', 'c']) {
      t = performance.now();
      assert.equal(await client.ask(line), `echo:${line}`);
      assert.ok(performance.now() - t >= RTT - SLACK, `answer after ${performance.now() - t} ms`);
    }
    client.socket.end();
    await client.closed;
    const after = proxy.counters();
    assert.equal(after.connections - before.connections, 1);
    // The handshake and three questions answered one after the other.
    assert.equal(after.roundTrips - before.roundTrips, 4);
    assert.equal(after.bytesUp - before.bytesUp, 6);
    assert.equal(after.bytesDown - before.bytesDown, 'echo:a\necho:b\necho:c\n'.length);
  });

  it('keeps the order of every chunk, and counts pipelined questions as one round trip', async () => {
    const before = proxy.counters();
    const client = await open(port);
    const count = 300;
    const all = new Promise<void>((resolve) =>
      client.socket.on('data', () => {
        if (client.lines.length === count) resolve();
      }),
    );
    // Many small writes at once: the proxy must not let a later one overtake an earlier one.
    for (let i = 0; i < count; i += 1) client.socket.write(`${i}\n`);
    await all;
    assert.deepEqual(
      client.lines,
      Array.from({ length: count }, (_, i) => `echo:${i}`),
    );
    client.socket.end();
    await client.closed;
    assert.equal(proxy.counters().roundTrips - before.roundTrips, 2);
  });

  it('passes the end of a stream after the data before it', async () => {
    const client = await open(port);
    client.socket.end('last\n');
    await client.closed;
    assert.deepEqual(client.lines, ['echo:last']);
    // Both of the proxy's sockets close once both ends have ended.
    for (let i = 0; i < 200 && proxy.open() > 0; i += 1) await new Promise((r) => setTimeout(r, 10));
    assert.equal(proxy.open(), 0);
  });
});
