// Types of poller.js for the TypeScript tests (the page itself has no build step).
export interface PollerState {
  running: boolean;
  failures: number;
  nextDelay: number;
  lastError: unknown;
  stopped: boolean;
}
export interface PollerOptions {
  task: () => Promise<unknown>;
  interval: number;
  maxInterval?: number;
  onState?: (state: PollerState) => void;
  timers?: { setTimeout: (fn: () => void, ms: number) => unknown; clearTimeout: (handle: unknown) => void };
}
export function createPoller(options: PollerOptions): {
  start(): void;
  stop(): void;
  refreshNow(): Promise<void>;
  state(): PollerState;
};
