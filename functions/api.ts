/**
 * The API function (SPEC 7.1): API Gateway HTTP API events, payload 2.0, through lib's handler.
 * Long operations and fleet runs go on in Step Functions executions named by their operation id,
 * and so does a quick change's callback; `GET /fleet/operations/{id}` reads the run store.
 */
import { type ApiHandler, createApiHandler } from '../lib/api/handler.ts';
import { errorResult, type HttpResult } from '../lib/api/http.ts';
import { errorBody } from '../lib/errors.ts';
import type { FleetResult } from '../lib/fleet/aggregate.ts';
import { presignResult, type Runtime, runtime, startChangeCallback, startRun } from './composition.ts';

/**
 * A quick change's callback to the host's `[server] callback_url` (SPEC 5), as `serve` sends it,
 * handed to a ChangeCallback execution before the answer (lib/fleet/steps/change.ts says why): this
 * function does nothing once it has answered. A hand-off that fails is logged (the id and server,
 * not the URL, whose path may be a secret of its own) and the answer is the change's, as in `serve`.
 */
function callBackFor(rt: Runtime) {
  return async (url: string, result: FleetResult): Promise<void> => {
    try {
      await startChangeCallback(rt, url, result);
    } catch (error) {
      rt.logger.error('callback not handed on', {
        operationId: result.operationId,
        server: result.targets[0]?.server ?? null,
        error: errorBody(error).message,
      });
    }
  };
}

let api: { runtime: Runtime; handle: ApiHandler } | undefined;

function apiFor(rt: Runtime): ApiHandler {
  if (api?.runtime !== rt) {
    api = {
      runtime: rt,
      handle: createApiHandler(
        {
          fleet: rt.fleet,
          dispatch: async (job) => {
            await startRun(rt, job);
          },
          // The id is claimed in the run table before any host is touched or any run started:
          // one id names one run, across both state machines and every server (SPEC 7.1).
          reserve: (job) => rt.claims.claim(job),
          callBack: callBackFor(rt),
          runStore: rt.store,
          resultUrl: (location) => presignResult(rt, location),
          allowPrivateCallbacks: rt.env.callbackAllowPrivate,
        },
        { log: (record) => rt.logger.info('request', { ...record }) },
      ),
    };
  }
  return api.handle;
}

/** Lambda entry point. */
export async function handler(event: unknown): Promise<HttpResult> {
  let rt: Runtime;
  try {
    rt = await runtime();
  } catch (error) {
    // The inventory or a secret could not be read: answered in SPEC 2.6's shape (CONFIG_ERROR, 424).
    return errorResult(error);
  }
  return apiFor(rt)(event);
}
