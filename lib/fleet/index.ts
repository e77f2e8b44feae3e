/** Fleet runs (SPEC 4): rate control, fan-out with canary and health gate, aggregation, progress lines. */
export {
  type AggregateInput,
  aggregate,
  type CallbackOutcome,
  commandArgs,
  type Deliver,
  type FleetResult,
  type FleetStatus,
  type FleetSummary,
  fleetStatus,
  summarize,
  type TargetReport,
  type TargetStatus,
  withCallbackOutcome,
} from './aggregate.ts';
export { advanceCanary, type CanaryState, mayStart, startCanary } from './canary.ts';
export { selectTargets } from './fleet.ts';
export { createProgressPrinter, formatProgress } from './progress.ts';
export {
  DEFAULT_CANARY,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_MAX_ERRORS,
  parseRateValue,
  type RateControl,
  type RateControlInput,
  type RateValue,
  resolveRateControl,
  validateRateControl,
} from './rate.ts';
export {
  type FleetPhase,
  type FleetProgressEvent,
  type HealthCheck,
  type HealthReport,
  type RunFleetOptions,
  type RunTarget,
  runFleet,
  type StopReason,
  type TargetOutcome,
  UNREACHABLE_CODES,
} from './run-fleet.ts';
export { countsAsFailure, failedReport, runOneTarget, type TargetRun } from './target.ts';
