/**
 * Routes Task invocations to handlers by the logical id in `resolveDefinition`'s placeholder
 * ARNs. A key matches a logical id exactly or as its unique prefix (CDK appends a hash: `Plan`
 * matches `Plan1A2B3C4D`); a Task with no handler rejects the execution's result loudly.
 */
import { NotImplementedError } from './errors.ts';
import { logicalIdOf } from './resolve-definition.ts';
import type { Invoke, InvokeContext, Json } from './types.ts';

export type Handler = (payload: Json, ctx: InvokeContext) => Promise<Json>;

/** An `invoke` that calls `handlers[key]` for the function whose logical id `key` names. */
export function routeByLogicalId(handlers: Record<string, Handler>): Invoke {
  const resolved = new Map<string, Handler>();
  return (target, payload, ctx) => {
    const id = logicalIdOf(target);
    let handler = resolved.get(id);
    if (!handler) {
      const keys = Object.hasOwn(handlers, id)
        ? [id]
        : Object.keys(handlers).filter((key) => id.startsWith(key));
      if (keys.length !== 1) {
        throw new NotImplementedError(
          `${keys.length === 0 ? 'no' : 'an ambiguous'} handler for ${target} (${keys.join(', ')})`,
        );
      }
      handler = handlers[keys[0]!]!;
      resolved.set(id, handler);
    }
    return handler(payload, ctx);
  };
}
