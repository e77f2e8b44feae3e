/**
 * A rollout as the run view shows it, from what the public API tells: the fleet run
 * (`GET /fleet/operations/{id}`: status, summary, the targets reported so far), the plan the page
 * resolved when it started the run (targets in order, canary and maxErrors as counts), and where
 * each unreported target stands by its heartbeat (running, hook ended, or not started: pending).
 *
 * The canary stage follows SPEC 4: targets one by one, in order, until `canary` have succeeded
 * or one has failed; an unreachable canary proves nothing and the next target takes its place.
 */

/** Codes a host answers before anything ran: no journal to show (SPEC 2.6's "nothing changed"). */
const NO_JOURNAL = /^(INVALID_|UNKNOWN_|LOCKED$|CONFIG_ERROR$|UNREACHABLE$|AUTH_FAILED$|HOST_KEY_MISMATCH$)/;

/**
 * @typedef {{ server: string, status: string, error?: { code: string, message: string, details?: Record<string, unknown> } }} TargetReport
 * @typedef {{ status: string, startedAt?: string, finishedAt?: string, failures?: number, targets?: TargetReport[] }} FleetRecord
 * @typedef {{ targets: string[], canary: number, maxErrors: number }} RunPlan
 * @typedef {{ server: string, state: string, phase: 'canary' | 'fleet' | '', error: TargetReport['error'] | undefined, hasJournal: boolean }} TargetRow
 * @typedef {{ state: string, server?: string, succeeded: number, needed: number }} CanaryStage
 */

/**
 * Rows, canary stage, failures and skipped targets of one run.
 * @param {FleetRecord} record
 * @param {RunPlan | null} plan
 * @param {Readonly<Record<string, string>>} progress per unreported target: 'running', 'checking' (its hook
 *   ended, the run has not reported it yet), 'failed' (its hook failed) or 'pending'
 * @returns {{ finished: boolean, rows: TargetRow[], canary: CanaryStage | null, failures: number, maxErrors: number | null, skipped: string[] }}
 */
export function deriveRun(record, plan, progress) {
  const finished = record.status !== 'running';
  const reports = new Map((record.targets ?? []).map((report) => [report.server, report]));
  const servers = plan ? [...plan.targets] : [];
  for (const report of record.targets ?? [])
    if (!servers.includes(report.server)) servers.push(report.server);

  /** @type {TargetRow[]} */
  const rows = servers.map((server) => {
    const report = reports.get(server);
    const state = report ? report.status : finished ? 'skipped' : (progress[server] ?? 'pending');
    const error = report?.error;
    const hasJournal =
      state === 'succeeded' ||
      state === 'running' ||
      state === 'checking' ||
      (state === 'failed' && (error === undefined || !NO_JOURNAL.test(error.code)));
    return { server, state, phase: '', error, hasJournal };
  });

  const canary = plan ? markCanaries(rows, plan.canary, finished) : null;
  const failures =
    typeof record.failures === 'number'
      ? record.failures
      : rows.filter((row) => row.state === 'failed').length;
  return {
    finished,
    rows,
    canary,
    failures,
    maxErrors: plan ? plan.maxErrors : null,
    skipped: rows.filter((row) => row.state === 'skipped').map((row) => row.server),
  };
}

/**
 * Marks the canary rows (`phase`) and says where the canary stage is.
 * @param {TargetRow[]} rows
 * @param {number} needed
 * @param {boolean} finished
 * @returns {CanaryStage}
 */
function markCanaries(rows, needed, finished) {
  for (const row of rows) row.phase = needed > 0 ? 'fleet' : '';
  if (needed <= 0) return { state: 'none', succeeded: 0, needed: 0 };
  let succeeded = 0;
  for (const [index, row] of rows.entries()) {
    if (succeeded >= needed) break;
    row.phase = 'canary';
    // A canary whose hook ended counts as passed once a later target has started: the run
    // starts the next target only after the canary's outcome is known.
    const passedOn =
      row.state === 'checking' && rows.slice(index + 1).some((later) => later.state !== 'pending');
    if (row.state === 'succeeded' || passedOn) succeeded += 1;
    else if (row.state === 'failed') return { state: 'failed', server: row.server, succeeded, needed };
    else if (row.state === 'unreachable') continue;
    else if (row.state === 'skipped') return { state: finished ? 'failed' : 'pending', succeeded, needed };
    else
      return {
        state: row.state === 'pending' ? 'pending' : 'running',
        server: row.server,
        succeeded,
        needed,
      };
  }
  // Every target was tried (unreachable ones prove nothing): the stage ended short of `needed`.
  return { state: succeeded >= needed ? 'passed' : finished ? 'ended' : 'running', succeeded, needed };
}
