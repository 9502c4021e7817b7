// The Jupyter face in two steps, as the server allows: its REST routes go on the app before the
// server listens (hono builds its router on the first request), its WebSocket on the server once
// it does. Used by services/api/start-api.ts.
import type { Server } from 'node:http';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../core/logger.ts';
import type { SessionService } from '../../../core/session-service.ts';
import { keyMatcher, presentedKey } from '../../auth.ts';
import { mountJupyterChannels, type JupyterChannels } from './channels.ts';
import { PendingKernels } from './pending.ts';
import { mountJupyter } from './routes.ts';

export interface JupyterFaceDeps {
  sessions: SessionService;
  redis: Redis;
  redisUrl: string;
  keyPrefix: string;
  apiKeys: readonly string[];
  bodyLimitBytes: number;
  workerSilenceMs: number;
  /**
   * Pending kernels (CORRAL_JUPYTER_PENDING_KERNELS, pending.ts): POST /api/kernels answers once the
   * session is queued; false: once the kernel is ready.
   */
  pendingKernels: boolean;
  log: Logger;
}

export interface JupyterFace {
  /** Serves the kernel WebSocket on the listening server. */
  listen(server: Server): void;
  close(): Promise<void>;
}

export function mountJupyterFace(app: Hono, deps: JupyterFaceDeps): JupyterFace {
  const matches = keyMatcher(deps.apiKeys);
  const authorized = (headers: { get(name: string): string | null | undefined }, token: string | undefined) =>
    deps.apiKeys.length === 0 || matches(presentedKey(headers) ?? token);
  let channels: JupyterChannels | undefined;
  // Shared by the routes (which add the starts) and the channels (which wait for them); it also
  // waits for kernels another API process is starting. Without the switch the channels still wait
  // for a kernel found starting (one listed by GET /api/kernels), by its record.
  const pending = new PendingKernels({
    sessions: deps.sessions,
    boundMs: deps.sessions.startBoundMs,
    log: deps.log,
  });
  const routes = mountJupyter(app, {
    sessions: deps.sessions,
    ...(deps.pendingKernels ? { pending } : {}),
    redis: deps.redis,
    keyPrefix: deps.keyPrefix,
    bodyLimitBytes: deps.bodyLimitBytes,
    authorized,
    channels: {
      connections: (id) => channels?.connections(id) ?? 0,
      executionState: (id) => channels?.executionState(id),
    },
    log: deps.log,
  });
  return {
    listen(server) {
      channels = mountJupyterChannels(server, {
        sessions: deps.sessions,
        redis: deps.redis,
        redisUrl: deps.redisUrl,
        keyPrefix: deps.keyPrefix,
        workerSilenceMs: deps.workerSilenceMs,
        pending,
        authorized: (req, token) => authorized({
          get: (name) => {
            const v = req.headers[name.toLowerCase()];
            return Array.isArray(v) ? v[0] : v;
          },
        }, token),
        log: deps.log,
      });
    },
    async close() {
      await channels?.close();
      await routes.close();
    },
  };
}
