/**
 * Coalesces SSM invocations: execs that carry the same `commands` (and timeout), issued within a
 * short window, go out as one `SendCommand` of up to 50 instance ids, SSM's limit. Read-only
 * programs (the read step, heartbeats) are the same text on every host on purpose, so a fleet
 * heartbeat costs one `SendCommand` per 50 hosts; per-host programs simply go one per call.
 * Each command is then followed by lib/transport/ssm/follow.ts.
 *
 * A fleet run below 50 × its fan-out hands hosts over as slots free: at fan-out 64, 50 go out and
 * 14 are left, and every later host arrives alone as one finishes. A short window alone then sends
 * 1–50 ids a call, and the 14-id remainder recurs every round. So a not-full batch is held while
 * enough of the same program is in flight here to fill it and the run (lib/transport/backlog.ts) still
 * has targets waiting for a slot: those in flight finish, free their slots, and the hosts that
 * take them fill the batch. It never changes how many targets run at once (the fleet's slots are
 * taken either way), only when they are sent; SSM invocations take seconds and SendCommand is
 * throttled, so this costs little. `maxHoldMs` bounds it, and once nothing more can come (or what
 * is in flight could not fill the batch) the batch goes after the short window.
 */
import type { SSMClient } from '@aws-sdk/client-ssm';
import { BootstrapError } from '../../errors.ts';
import { currentFleetBacklog, type FleetBacklog, wantFleetBacklog } from '../backlog.ts';
import {
  apiError,
  type Entry,
  followCommand,
  type InvocationRequest,
  type InvocationResult,
} from './follow.ts';
import { ssmCommands } from './load-sdk.ts';
import { awsErrorName, Backoff, type BackoffOptions, isThrottling } from './retry.ts';

export type { InvocationRequest, InvocationResult } from './follow.ts';

export interface SsmBatcherOptions {
  /** How long a batch waits for more hosts running the same program, in ms (default 10). */
  windowMs?: number;
  /** How long a not-full batch may be held for hosts a fleet run is about to start, in ms (default 10,000). */
  maxHoldMs?: number;
  /** Instance ids per `SendCommand` (default and maximum 50). */
  maxInstances?: number;
  /** Polling backoff (defaults: 500 ms, growing 1.5× to 5 s, with jitter; stretched while throttled). */
  poll?: Partial<Omit<BackoffOptions, 'random'>>;
  /** Jitter source, `Math.random` by default. */
  random?: () => number;
  /** `Comment` on each command, shown in the SSM console (default `cloudiq-bootstrap`). */
  comment?: string;
}

interface Batch {
  commands: string;
  timeoutMs: number | undefined;
  entries: Entry[];
  createdAt: number;
  /** Whether the timer is the hold (`maxHoldMs` from creation) rather than the short window. */
  held: boolean;
  /** The fleet run of the latest host added, if any: whether more hosts will arrive. */
  backlog?: FleetBacklog | undefined;
  timer?: NodeJS.Timeout;
}

/** One per `SSMClient` (and so per region): batches same-program execs into shared `SendCommand` calls. */
export class SsmBatcher {
  readonly client: SSMClient;
  private readonly windowMs: number;
  private readonly maxHoldMs: number;
  private readonly maxInstances: number;
  private readonly backoff: BackoffOptions;
  private readonly comment: string;
  private readonly pending = new Map<string, Batch[]>();
  /** Per program: entries sent (or being sent) and not settled yet. */
  private readonly inFlight = new Map<string, number>();
  /** Per command being polled: aborting it ends the poller's sleep early (an entry was settled). */
  private readonly sleepers = new Map<string, AbortController>();

  constructor(client: SSMClient, options: SsmBatcherOptions = {}) {
    wantFleetBacklog();
    this.client = client;
    this.windowMs = options.windowMs ?? 10;
    this.maxHoldMs = options.maxHoldMs ?? 10_000;
    this.maxInstances = Math.min(50, Math.max(1, options.maxInstances ?? 50));
    this.backoff = {
      initialMs: 500,
      maxMs: 5000,
      factor: 1.5,
      ...options.poll,
      random: options.random ?? Math.random,
    };
    this.comment = options.comment ?? 'cloudiq-bootstrap';
  }

  /** Runs `commands` on one instance, sharing the `SendCommand` with same-program runs, and waits for its end. */
  run(request: InvocationRequest): Promise<InvocationResult> {
    return new Promise((resolve, reject) => {
      const { signal } = request;
      if (signal?.aborted) return reject(signal.reason);
      const entry: Entry = { request, state: 'queued', resolve, reject };
      const key = this.key(request);
      const settle = (fn: () => void, aborted = false) => {
        if (entry.state === 'settled') return;
        const was = entry.state;
        entry.state = 'settled';
        signal?.removeEventListener('abort', onAbort);
        if (was === 'queued') this.dequeue(entry);
        else this.landed(key);
        if (aborted && was === 'sent' && entry.commandId) {
          this.cancel(entry.commandId, request.instanceId);
          this.sleepers.get(entry.commandId)?.abort();
        }
        fn();
      };
      const onAbort = () => settle(() => reject(signal?.reason), true);
      entry.resolve = (result) => settle(() => resolve(result));
      entry.reject = (error) => settle(() => reject(error));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(key, entry);
    });
  }

  /**
   * Execs that SSM would be sent alike share a batch: the same `commands`, and the same timeout
   * as SSM takes it, in whole seconds (hosts' remaining times differ by milliseconds).
   */
  private key(request: InvocationRequest): string {
    return `${timeoutSeconds(request.timeoutMs) ?? ''}\n${request.commands}`;
  }

  private enqueue(key: string, entry: Entry): void {
    const batches = this.pending.get(key) ?? [];
    this.pending.set(key, batches);
    // SSM refuses a duplicate instance id in one command: a second run on the same host waits for the next batch.
    let batch = batches.find(
      (b) => !b.entries.some((e) => e.request.instanceId === entry.request.instanceId),
    );
    if (!batch) {
      const created: Batch = {
        commands: entry.request.commands,
        timeoutMs: entry.request.timeoutMs,
        entries: [],
        createdAt: Date.now(),
        held: false,
      };
      batches.push(created);
      batch = created;
    }
    batch.entries.push(entry);
    batch.backlog = currentFleetBacklog() ?? batch.backlog;
    if (batch.entries.length >= this.maxInstances) this.flush(key, batch);
    else this.schedule(key, batch);
  }

  /** (Re)arms a pending batch's timer: the hold while more hosts are due (see the file's head), else the window. */
  private schedule(key: string, batch: Batch): void {
    // Below a full batch's worth of slots holding would only make each round wait for its slowest host.
    const inFlight = this.inFlight.get(key) ?? 0;
    const hold =
      inFlight > 0 &&
      batch.entries.length + inFlight >= this.maxInstances &&
      (batch.backlog?.waiting() ?? 0) > 0;
    if (batch.timer && hold === batch.held) return;
    clearTimeout(batch.timer);
    batch.held = hold;
    const delay = hold ? Math.max(0, batch.createdAt + this.maxHoldMs - Date.now()) : this.windowMs;
    batch.timer = setTimeout(() => this.flush(key, batch), delay);
  }

  /** An entry of `key` that was sent has settled: a batch held for its slot may have to go now. */
  private landed(key: string): void {
    const left = (this.inFlight.get(key) ?? 1) - 1;
    if (left > 0) this.inFlight.set(key, left);
    else this.inFlight.delete(key);
    for (const batch of this.pending.get(key) ?? []) this.schedule(key, batch);
  }

  private dequeue(entry: Entry): void {
    for (const batches of this.pending.values()) {
      for (const batch of batches) {
        const at = batch.entries.indexOf(entry);
        if (at >= 0) batch.entries.splice(at, 1);
      }
    }
  }

  private flush(key: string, batch: Batch): void {
    clearTimeout(batch.timer);
    const batches = this.pending.get(key) ?? [];
    const at = batches.indexOf(batch);
    if (at >= 0) batches.splice(at, 1);
    if (batches.length === 0) this.pending.delete(key);
    const entries = batch.entries.filter((e) => e.state === 'queued');
    for (const entry of entries) entry.state = 'sending';
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + entries.length);
    if (entries.length > 0) void this.send(batch, entries);
  }

  private async send(batch: Batch, entries: Entry[]): Promise<void> {
    const backoff = new Backoff(this.backoff);
    const live = () => entries.filter((e) => e.state === 'sending');
    for (;;) {
      const targets = live();
      if (targets.length === 0) return;
      try {
        const ids = targets.map((e) => e.request.instanceId);
        // The SDK's commands load on first use: a fleet without SSM hosts never parses them.
        const { SendCommandCommand } = await ssmCommands();
        const out = await this.client.send(new SendCommandCommand(this.sendInput(batch, ids)));
        const commandId = out.Command?.CommandId;
        if (!commandId) throw new BootstrapError('INTERNAL', 'SendCommand answered without a CommandId');
        for (const entry of entries) {
          if (entry.state === 'sending') {
            entry.state = 'sent';
            entry.commandId = commandId;
          } else if (entry.state === 'settled' && ids.includes(entry.request.instanceId)) {
            // Aborted while SendCommand was in flight: it was sent all the same.
            this.cancel(commandId, entry.request.instanceId);
          }
        }
        return void followCommand(this.client, commandId, targets, this.backoff, this.sleepers);
      } catch (error) {
        if (isThrottling(error)) {
          backoff.throttled();
          await backoff.wait();
          continue;
        }
        // SSM rejects the whole command when one id is not a managed node: halve until it is found.
        if (awsErrorName(error) === 'InvalidInstanceId' && targets.length > 1) {
          const half = Math.ceil(targets.length / 2);
          await Promise.all([
            this.send(batch, targets.slice(0, half)),
            this.send(batch, targets.slice(half)),
          ]);
          return;
        }
        for (const entry of targets)
          entry.reject(await apiError(this.client, 'SendCommand', error, entry.request.instanceId));
        return;
      }
    }
  }

  private sendInput(batch: Batch, instanceIds: string[]) {
    const parameters: Record<string, string[]> = { commands: [batch.commands] };
    const seconds = timeoutSeconds(batch.timeoutMs);
    if (seconds !== undefined) parameters['executionTimeout'] = [String(Math.min(172_800, seconds))];
    return {
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: instanceIds,
      Parameters: parameters,
      Comment: this.comment,
      // One host's failure must never stop SSM from running the command on the others.
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      ...(seconds === undefined ? {} : { TimeoutSeconds: Math.min(2_592_000, Math.max(30, seconds)) }),
    };
  }

  /** Best effort: the caller has already been answered, a failed cancel only leaves the command to its timeout. */
  private cancel(commandId: string, instanceId: string): void {
    ssmCommands()
      .then(({ CancelCommandCommand }) =>
        this.client.send(new CancelCommandCommand({ CommandId: commandId, InstanceIds: [instanceId] })),
      )
      .catch(() => {});
  }
}

const shared = new WeakMap<SSMClient, SsmBatcher>();

/** The batcher shared by every transport built on `client`, created on first use. */
export function sharedBatcher(client: SSMClient): SsmBatcher {
  let batcher = shared.get(client);
  if (!batcher) {
    batcher = new SsmBatcher(client);
    shared.set(client, batcher);
  }
  return batcher;
}

/** A timeout as SSM is given it: whole seconds, at least one. */
function timeoutSeconds(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.max(1, Math.ceil(ms / 1000));
}
