/**
 * The one rule for an operation id used again (SPEC 2.5: "passing an id that already has a
 * journal returns that journal instead of running again"; 7.1: "the same `operationId` sent again
 * answers with the same operation, never a second run"): the id answers what it already names
 * for the same request only, whatever keeps that — a host's journal (the CLI, a fleet run's
 * targets, the API), a fleet run's record, an id claimed before anything started (`serve`'s
 * in-process driver, the cloud's claims). Another command or other arguments under a used id is
 * INVALID_REQUEST, naming the id and what differs.
 *
 * What a request leaves out states nothing: `server.provision` without a role ("ROLE defaults to
 * the role already recorded") matches the journal of whatever role was planned then, and a claim
 * made by such a request matches one that names a role. Whether a role that was left out is the
 * journal's is the host's to say; a claim only keeps what its request stated. So only arguments
 * stated on both sides are compared. The arguments the commands require are always on both.
 */
import { isDeepStrictEqual } from 'node:util';
import { BootstrapError } from '../errors.ts';
import { present } from '../optional.ts';

/** What an operation id names, as a request states it or a record keeps it. */
export interface NamedRequest {
  /** A fleet run or one server's operation, where both sides say (claims; not a host's journal). */
  kind?: 'server' | 'fleet';
  /** The server of one server's operation, where both sides say. */
  server?: string;
  command: string;
  /** The arguments, the operation id not among them; one absent or undefined is not stated. */
  args: Readonly<Record<string, unknown>>;
}

/** How a request differs from a record: what (`kind`, `server`, `command` or an argument's name) and in words. */
export interface RequestDifference {
  differs: string;
  text: string;
}

const nameOf = (named: NamedRequest) => `${named.command} ${JSON.stringify(named.args)}`;

/**
 * How `request` differs from `recorded`, or undefined when it is the same request: the same
 * kind and server, then the same command, then each argument both state equal.
 */
export function requestDifference(
  request: NamedRequest,
  recorded: NamedRequest,
): RequestDifference | undefined {
  if (request.kind !== recorded.kind) {
    const what = recorded.kind === 'fleet' ? 'a fleet run' : "one server's operation";
    return { differs: 'kind', text: `it names ${what}, ${nameOf(recorded)}` };
  }
  if (request.server !== recorded.server) {
    return {
      differs: 'server',
      text: `it names ${nameOf(recorded)} on ${recorded.server}, not ${request.server}`,
    };
  }
  if (request.command !== recorded.command) {
    return { differs: 'command', text: `it names ${nameOf(recorded)}, not ${request.command}` };
  }
  for (const [key, value] of Object.entries(request.args)) {
    const kept = recorded.args[key];
    if (value === undefined || kept === undefined || isDeepStrictEqual(value, kept)) continue;
    return { differs: key, text: `${key} ${JSON.stringify(kept)}, not ${JSON.stringify(value)}` };
  }
  return undefined;
}

/**
 * Refuses (INVALID_REQUEST) `request` under `operationId` when the id already names another
 * request, `recorded`; `on` is the host whose journal it is, where one is.
 */
export function assertSameRequest(
  operationId: string,
  request: NamedRequest,
  recorded: NamedRequest,
  on?: string,
): void {
  const difference = requestDifference(request, recorded);
  if (difference === undefined) return;
  const { command, args } = recorded;
  throw new BootstrapError(
    'INVALID_REQUEST',
    `${on === undefined ? '' : `${on}: `}operation id ${operationId} is already used by another request ` +
      `(${difference.text}); give a new id`,
    {
      ...present({ server: on }),
      operationId,
      existing: { ...present({ kind: recorded.kind, server: recorded.server }), command, args },
      differs: difference.differs,
    },
  );
}
