export type { HostTarget, RunOptions } from './target.ts';

/** One bootstrap command with its arguments (SPEC 2.5). */
export type CommandRequest =
  | { command: 'product.get'; product: string; key?: string }
  | { command: 'product.set'; product: string; values: Record<string, string> }
  | { command: 'server.mode'; mode?: string }
  | { command: 'server.provision'; role?: string; operationId?: string }
  | { command: 'product.upgrade'; product: string; version: string; operationId?: string }
  | { command: 'heartbeat.get' }
  | { command: 'heartbeat.appstack' }
  | { command: 'operation.get'; operationId: string };

export type CommandName = CommandRequest['command'];

export const MUTATING_COMMANDS: ReadonlySet<CommandName> = new Set([
  'product.set',
  'server.provision',
  'product.upgrade',
]);

export const LONG_COMMANDS: ReadonlySet<CommandName> = new Set(['server.provision', 'product.upgrade']);
