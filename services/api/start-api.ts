// Starts the HTTP API over a core context: builds the app and listens.
import type { Hono } from 'hono';
import type { CoreContext } from '../core/context.ts';
import type { RunService } from '../core/run-service.ts';
import type { Logger } from '../core/logger.ts';
import { bounded } from '../core/lifecycle.ts';
import { createApp } from './app.ts';
import { listen, type RunningServer } from './server.ts';
import { mountCompat } from './compat/mount-compat.ts';
import { InteractiveService } from '../core/interactive-service.ts';
import { SessionService } from '../core/session-service.ts';
import type { LocalSessions } from '../core/session-local.ts';
import { mountJupyterFace } from './compat/jupyter/face.ts';
import { mountPistonConnect } from './compat/piston/connect.ts';
import { parsePistonOptions } from './compat/piston/options.ts';

/**
 * On shutdown, requests in progress get this long to answer (a `?wait=true` hold answers 202 with
 * its run id at once; a request waiting for Redis answers within CORRAL_API_REDIS_TIMEOUT_MS).
 */
const DRAIN_MS = 2_000;

/** A compatibility layer mounted beside v1, e.g. `(app, rs) => mountJudge0(app, rs, opts)`. */
export type Mount = (app: Hono, runService: RunService) => void;

/**
 * `localSessions`: the sessions of a worker in this process (bin/stack.ts), whose requests then
 * skip Redis (services/core/session-local.ts).
 */
export async function startApi(core: CoreContext, log: Logger, mounts: Mount[] = [], localSessions?: LocalSessions): Promise<RunningServer> {
  // Notebook sessions (/v1/sessions), relayed to workers through Redis (docs/sessions.md).
  const sessions = new SessionService({ config: core.config, redis: core.redis, redisUrl: core.redisUrl, log, ...(localSessions ? { local: localSessions } : {}) });
  // Its reply inbox before the first request (closed by sessions.shutdown() below).
  await sessions.open();
  const app = createApp({
    sessions,
    config: core.config,
    runService: core.runService,
    readiness: core.readiness,
    log,
    ...(core.metrics ? { metrics: core.metrics } : {}),
  });
  // Judge0 CE and Piston v2 beside API v1, on the same RunService (docs/compat.md).
  const compat = mountCompat(app, {
    runService: core.runService,
    config: core.config,
    log,
    workers: () => core.directory.fresh(),
  });
  // Jupyter's kernels API over the same sessions (docs/compat.md).
  const jupyter = mountJupyterFace(app, {
    sessions, redis: core.redis, redisUrl: core.redisUrl, keyPrefix: core.config.keyPrefix, apiKeys: core.config.apiKeys,
    bodyLimitBytes: core.config.bodyLimitBytes, workerSilenceMs: core.config.sessions.workerSilenceMs,
    pendingKernels: core.config.sessions.jupyterPendingKernels, log,
  });
  for (const mount of mounts) mount(app, core.runService);
  const server = await listen(app, core.config.host, core.config.port).catch(async (err: unknown) => {
    await bounded(sessions.shutdown(), DRAIN_MS); // its inbox's connections would keep the process alive
    throw err;
  });
  jupyter.listen(server.http);
  // Piston's interactive WebSocket (/api/v2/connect), relayed to workers through Redis.
  const interactive = new InteractiveService({
    config: core.config, redis: core.redis, redisUrl: core.redisUrl, log, prepare: (input) => core.runService.prepare(input),
    ...(core.metrics ? { metrics: core.metrics } : {}),
  });
  const connect = mountPistonConnect(app, server.http, {
    interactive, runService: core.runService, options: parsePistonOptions({}, core.config), log,
    initTimeoutMs: core.config.interactive.initTimeoutMs, maxStdinBytes: core.config.interactive.stdinMaxBytes,
    maxMessageBytes: core.config.bodyLimitBytes,
  });
  log.info({ url: server.url }, 'API listening');
  return {
    ...server,
    close: async () => {
      // Stop listening first, then end the holds (waits and event streams), then drain.
      const closed = server.close(Math.max(DRAIN_MS, core.config.apiRedisTimeoutMs + 500));
      core.runService.close();
      await bounded(connect.close(), DRAIN_MS);
      await bounded(jupyter.close(), DRAIN_MS);
      await bounded(interactive.close(), DRAIN_MS);
      await bounded(sessions.shutdown(), DRAIN_MS);
      compat.close();
      await closed;
    },
  };
}
