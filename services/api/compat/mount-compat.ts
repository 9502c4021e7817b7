// One call that mounts both compatibility APIs on the API v1 app, with options derived from
// Corral's Config (maxima, API keys, body limit, maximum wait, and the Judge0 switches set by
// CORRAL_JUDGE0_* environment variables). Used by services/api/start-api.ts:
//
//   const app = createApp({...});
//   const compat = mountCompat(app, { runService: core.runService, config: core.config, log,
//                                     workers: () => core.directory.fresh() });
//   // on shutdown: compat.close();
import type { Hono } from 'hono';
import type { Config } from '../../core/config.ts';
import type { RunService } from '../../core/run-service.ts';
import { parseJudge0Options, type Judge0OptionsInput } from './judge0/options.ts';
import { mountJudge0 } from './judge0/routes.ts';
import { judge0Workers, type WorkerBeat } from './judge0/workers.ts';
import { parsePistonOptions, type PistonOptionsInput } from './piston/options.ts';
import { mountPiston } from './piston/routes.ts';

export interface CompatDeps {
  runService: RunService;
  config: Config;
  log?: { warn: (obj: object, msg: string) => void };
  /** Fresh worker heartbeats (core.directory.fresh()), for Judge0's GET /workers. */
  workers?: () => Promise<WorkerBeat[]>;
  judge0?: Judge0OptionsInput;
  piston?: PistonOptionsInput;
}

export function mountCompat(app: Hono, deps: CompatDeps): { close(): void } {
  const log = deps.log ? (message: string) => deps.log!.warn({}, message) : undefined;
  const judge0 = mountJudge0(app, {
    runService: deps.runService,
    // Judge0's switches come from the environment (config.judge0); options given in code win.
    options: parseJudge0Options({ ...deps.config.judge0, authUsers: [...deps.config.judge0.authUsers], ...deps.judge0 }, deps.config),
    bodyLimitBytes: deps.config.bodyLimitBytes,
    ...(deps.workers ? { workers: async () => judge0Workers(await deps.workers!()) as unknown as Array<Record<string, unknown>> } : {}),
    ...(log ? { log } : {}),
  });
  mountPiston(app, {
    runService: deps.runService,
    options: parsePistonOptions(deps.piston ?? {}, deps.config),
    bodyLimitBytes: deps.config.bodyLimitBytes,
    ...(log ? { log } : {}),
  });
  return judge0;
}
