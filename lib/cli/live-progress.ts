/**
 * The live progress of a fleet run on a terminal's stderr (SPEC 6): a line per finished target
 * (lib/fleet's `formatProgress`) scrolls up, and one status line at the bottom is redrawn in
 * place with how far the run is, how many failed, and how long it has run.
 */
import { type FleetProgressEvent, formatProgress } from '../fleet/index.ts';
import type { Palette } from './fleet-output.ts';

const CLEAR_LINE = '\r\u001b[2K';

export interface LiveProgress {
  onProgress: (event: FleetProgressEvent) => void;
  /** Clears the status line and stops the clock; call once the run ended. */
  stop: () => void;
}

/** A live progress display writing with `write` (stderr), ticking every `tickMs`. */
export function createLiveProgress(
  write: (text: string) => void,
  paint: Palette,
  options: { now?: () => number; tickMs?: number } = {},
): LiveProgress {
  const now = options.now ?? Date.now;
  const started = now();
  let total = 0;
  let done = 0;
  let failures = 0;
  let unreachable = 0;
  let drawn = false;

  const status = () => {
    const seconds = ((now() - started) / 1000).toFixed(1);
    const failed = failures > 0 ? paint.red(`${failures} failed`) : '0 failed';
    const lost = unreachable > 0 ? `, ${paint.red(`${unreachable} unreachable`)}` : '';
    return `${paint.bold(`${done}/${total} done`)}, ${failed}${lost}, ${seconds} s elapsed`;
  };
  const redraw = () => {
    if (total === 0) return;
    write(`${CLEAR_LINE}${status()}`);
    drawn = true;
  };
  const timer = setInterval(redraw, options.tickMs ?? 1000);
  timer.unref();

  return {
    onProgress(event) {
      if (event.type !== 'stopped') total = event.total;
      if (event.type === 'started') return redraw();
      if (event.type === 'finished' || event.type === 'skipped') {
        done = event.done;
        if (event.type === 'finished' && event.report.status === 'failed') failures += 1;
        if (event.type === 'finished' && event.report.status === 'unreachable') unreachable += 1;
      }
      const line = formatProgress(event, done);
      const bad = event.type === 'finished' && event.report.status !== 'succeeded';
      write(`${CLEAR_LINE}${bad ? paint.red(line) : line}\n`);
      redraw();
    },
    stop() {
      clearInterval(timer);
      if (drawn) write(CLEAR_LINE);
      drawn = false;
      total = 0;
    },
  };
}
