import { type CallbackLogRecord, callbackOptionsFromEnv, deliverCallback } from '../callback/index.ts';
import type { Deliver } from '../fleet/aggregate.ts';
import { VERSION } from '../version.ts';

/**
 * The callback deliverer of a process: SPEC 5 with `CALLBACK_SECRET` / `CALLBACK_ALLOW_PRIVATE`
 * from `env`, every delivery event handed to `log` (records carry no secret and no URL path).
 */
export function createDeliver(
  env: Readonly<Record<string, string | undefined>>,
  log: (record: CallbackLogRecord) => void,
): Deliver {
  const options = { ...callbackOptionsFromEnv(env, VERSION), logger: log };
  return (url, result) => deliverCallback(url, result, options);
}
