/**
 * A fleet of host doubles for tests where the fleet engine, not the host, is under test (the
 * 10,000-target simulations): N named hosts whose operation succeeds, fails (HOOK_FAILED), is
 * unreachable (UNREACHABLE) or leaves the server unhealthy, after an optional delay; every
 * touch is recorded with a global sequence number, so a test can tell what started when. The
 * real hosts are exercised by the sandbox tests beside these (test/support/sandbox.ts).
 */
import { BootstrapError } from '../../lib/errors.ts';
import type { Fleet } from '../../lib/fleet/fleet.ts';
import type { TargetWork } from '../../lib/fleet/work.ts';
import type { HeartbeatAnswer } from '../../lib/operations/index.ts';
import { createLocalTransport } from '../../lib/transport/local.ts';

export type HostBehaviour = 'ok' | 'fail' | 'unreachable' | 'unhealthy' | 'dead';

export interface Touch {
  server: string;
  seq: number;
  finishedSeq?: number;
}

export interface HostDoubles {
  fleet: Fleet;
  names: string[];
  behaviour: Map<string, HostBehaviour>;
  /** Every operation started on a host, in order. */
  touches: Touch[];
  /** The hosts the engine said it was done with (Fleet.release), in order. */
  released: string[];
  /** The next value of the global sequence (shared with the test's own events). */
  tick(): number;
  work(): TargetWork;
  /** `heartbeat.get` + `heartbeat.appstack` answers after `costMs` (dead hosts never answer). */
  /**
   * `heartbeat.get` + `heartbeat.appstack` answers after `costMs` (dead hosts only after `deadMs`,
   * past any timeout), on real timers or on the given `sleep` (a simulation's virtual clock).
   */
  readHeartbeat(
    costMs: (server: string) => number,
    sleep?: (ms: number) => Promise<void>,
    deadMs?: number,
  ): (
    server: string,
    options: { signal: AbortSignal },
  ) => Promise<{
    heartbeat: HeartbeatAnswer;
    appstack: { status: 'healthy'; products: Record<string, never> };
  }>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (ms <= 0) return void setImmediate(resolve);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** `count` hosts named `host-00001`…, each `ok` unless `behaviour` says otherwise. */
export function createHostDoubles(
  count: number,
  options: { delayMs?: () => number; resultBytes?: number } = {},
): HostDoubles {
  const names = Array.from({ length: count }, (_, i) => `host-${String(i + 1).padStart(5, '0')}`);
  const index = new Map(names.map((name, i) => [name, i]));
  const behaviour = new Map<string, HostBehaviour>();
  const touches: Touch[] = [];
  const released: string[] = [];
  let seq = 0;
  const tick = () => ++seq;
  const transport = createLocalTransport({ target: 'double', shell: '/nonexistent/double' });
  const fleet: Fleet = {
    servers: () => names.map((name) => ({ name, groups: ['all'], transport: 'local' as const })),
    select: (selector) => {
      if (selector === 'all') return [...names];
      return selector.split(',').map((name) => {
        if (!index.has(name))
          throw new BootstrapError('UNKNOWN_SERVER', `unknown server ${name}`, { server: name });
        return name;
      });
    },
    target: (name) => ({ name, transport, configPath: '/nonexistent', stateDir: '/nonexistent' }),
    release: (name) => {
      released.push(name);
    },
    close: async () => {},
  };
  const work = (): TargetWork => ({
    async runTarget(server, signal) {
      const touch: Touch = { server, seq: tick() };
      touches.push(touch);
      await sleep(options.delayMs?.() ?? 0, signal);
      touch.finishedSeq = tick();
      const kind = behaviour.get(server) ?? 'ok';
      if (kind === 'fail')
        throw new BootstrapError('HOOK_FAILED', `${server}: upgrade.sh exited 1`, { server });
      if (kind === 'unreachable' || kind === 'dead')
        throw new BootstrapError('UNREACHABLE', `${server}: connection refused`, { server });
      const output = 'x'.repeat(options.resultBytes ?? 0);
      return { status: 'succeeded', result: { id: 'journal', server, status: 'succeeded', output } };
    },
    async healthCheck(server) {
      return { status: behaviour.get(server) === 'unhealthy' ? 'degraded' : 'healthy' };
    },
  });
  const heartbeat: HeartbeatAnswer = {
    mode: 'active',
    role: 'edge',
    products: {},
    lock: null,
    lastOperation: null,
    uptimeSeconds: 1,
    load: [0, 0, 0],
  } as unknown as HeartbeatAnswer;
  return {
    fleet,
    names,
    behaviour,
    touches,
    released,
    tick,
    work,
    readHeartbeat:
      (costMs, virtualSleep, deadMs = 10 * 60_000) =>
      async (server, { signal }) => {
        const touch: Touch = { server, seq: tick() };
        touches.push(touch);
        const wait = (ms: number) => (virtualSleep ? virtualSleep(ms) : sleep(ms, signal));
        if (behaviour.get(server) === 'dead') await wait(deadMs);
        await wait(costMs(server));
        touch.finishedSeq = tick();
        return { heartbeat, appstack: { status: 'healthy', products: {} } };
      },
  };
}
