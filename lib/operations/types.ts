/** The operations' public types: a host and the options of a run, and the requests of the command table. */
export type { CommandName, CommandRequest } from './registry.ts';
export { LONG_COMMANDS, MUTATING_COMMANDS } from './registry.ts';
export type { HostTarget, RunOptions } from './target.ts';
