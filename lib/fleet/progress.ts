/**
 * Live progress of a fleet run for a terminal (SPEC 6: a line per target on stderr when it is a
 * terminal). The bracket is how far the run is: targets finished or skipped, over the total.
 */
import type { FleetProgressEvent, StopReason } from './run-fleet.ts';

const MAX_MESSAGE = 200;

const STOP_WORDS: Record<StopReason, string> = {
  MAX_ERRORS_EXCEEDED: 'max errors exceeded',
  CANARY_FAILED: 'canary failed',
  ABORTED: 'aborted',
  OUT_OF_TIME: 'out of time',
};

/** One progress line (no newline) for an event, e.g. `[3/10] web-2 failed HOOK_FAILED: upgrade.sh exited 1`. */
export function formatProgress(event: FleetProgressEvent, done = 0): string {
  switch (event.type) {
    case 'started': {
      const phase = event.phase === 'canary' ? ' (canary)' : '';
      return `${bracket(done, event.total)} ${clean(event.server)} started${phase}`;
    }
    case 'finished': {
      const report = event.report;
      const head = `${bracket(event.done, event.total)} ${clean(event.server)} ${report.status}`;
      if (report.status === 'failed' || report.status === 'unreachable') {
        return `${head} ${report.error.code}: ${shorten(clean(report.error.message))}`;
      }
      return head;
    }
    case 'skipped':
      return `${bracket(event.done, event.total)} ${clean(event.server)} skipped (${STOP_WORDS[event.reason]})`;
    case 'stopped':
      return stoppedLine(event.reason, event.errors, event.maxErrors);
  }
}

function stoppedLine(reason: StopReason, errors: number, maxErrors: number): string {
  switch (reason) {
    case 'MAX_ERRORS_EXCEEDED':
      return `stopping: ${errors} failed, more than maxErrors ${maxErrors}; running targets finish, the rest are skipped`;
    case 'CANARY_FAILED':
      return 'stopping: a canary failed; the rest are skipped';
    case 'ABORTED':
      return 'stopping: aborted; running targets are abandoned, the rest are skipped';
    case 'OUT_OF_TIME':
      return 'stopping: too little time left to start another target; running targets finish, the rest are skipped';
  }
}

/**
 * An `onProgress` for `runFleet` that writes each line with `write` (e.g. to `process.stderr`);
 * it remembers how many targets are done so that `started` lines show it too.
 */
export function createProgressPrinter(write: (line: string) => void): (event: FleetProgressEvent) => void {
  let done = 0;
  return (event) => {
    if (event.type === 'finished' || event.type === 'skipped') done = event.done;
    write(`${formatProgress(event, done)}\n`);
  };
}

function bracket(done: number, total: number): string {
  const width = String(total).length;
  return `[${String(done).padStart(width, ' ')}/${total}]`;
}

// Host names and error messages may carry bytes from the host: no escape sequence reaches the terminal.
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
}

function shorten(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 1)}…`;
}
