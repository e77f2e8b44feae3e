// Types of run-state.js for the TypeScript tests (the page itself has no build step).
export interface TargetReport {
  server: string;
  status: string;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}
export interface FleetRecord {
  status: string;
  startedAt?: string;
  finishedAt?: string;
  failures?: number;
  targets?: TargetReport[];
}
export interface RunPlan {
  targets: string[];
  canary: number;
  maxErrors: number;
}
export interface TargetRow {
  server: string;
  state: string;
  phase: 'canary' | 'fleet' | '';
  error: TargetReport['error'] | undefined;
  hasJournal: boolean;
}
export interface CanaryStage {
  state: string;
  server?: string;
  succeeded: number;
  needed: number;
}
export function deriveRun(
  record: FleetRecord,
  plan: RunPlan | null,
  progress: Readonly<Record<string, string>>,
): {
  finished: boolean;
  rows: TargetRow[];
  canary: CanaryStage | null;
  failures: number;
  maxErrors: number | null;
  skipped: string[];
};
