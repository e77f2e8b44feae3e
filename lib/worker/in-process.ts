/**
 * The worker inside the serving process (`serve`, tests): `dispatch` starts the job in the
 * background and returns at once, as an asynchronous Lambda Invoke would. With no time limit a
 * job never hands over; `idle()` waits for every job started so far.
 */
import { errorBody } from '../errors.ts';
import type { WorkerJob } from './job.ts';
import { runWorker, type WorkerDeps } from './run-job.ts';

export interface InProcessWorker {
  dispatch(job: WorkerJob): Promise<void>;
  /** Resolves once no job is running. */
  idle(): Promise<void>;
  /** Jobs running now. */
  running(): number;
}

/** A worker that runs jobs in this process; a job's unexpected failure goes to `onError`. */
export function createInProcessWorker(
  deps: Omit<WorkerDeps, 'handOver' | 'remainingTimeMs'>,
  onError: (job: WorkerJob, error: ReturnType<typeof errorBody>) => void = () => {},
): InProcessWorker {
  const jobs = new Set<Promise<void>>();
  return {
    async dispatch(job) {
      const work = runWorker(deps, { job }).then(
        () => {},
        (error: unknown) => onError(job, errorBody(error)),
      );
      jobs.add(work);
      void work.finally(() => jobs.delete(work));
    },
    async idle() {
      while (jobs.size > 0) await Promise.all([...jobs]);
    },
    running: () => jobs.size,
  };
}
