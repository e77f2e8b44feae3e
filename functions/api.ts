/**
 * The API function (SPEC 7.1): API Gateway HTTP API events, payload 2.0, through lib's handler.
 * Long operations and fleet runs go on in Step Functions executions named by their operation id;
 * `GET /fleet/operations/{id}` reads the run store.
 */
import { type ApiHandler, createApiHandler } from '../lib/api/handler.ts';
import { errorResult, type HttpResult } from '../lib/api/http.ts';
import { presignResult, type Runtime, runtime, startRun } from './composition.ts';

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
