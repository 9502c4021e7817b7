// corral up — everything in one process tree: embedded Redis (unless REDIS_URL is set), the API
// and a worker.
import { join } from 'node:path';
import { loadConfig } from '../../services/core/config.ts';
import { createCoreContext } from '../../services/core/context.ts';
import { onShutdown } from '../../services/core/lifecycle.ts';
import { createLogger } from '../../services/core/logger.ts';
import { EmbeddedRedis } from '../../services/core/redis.ts';
import { startApi } from '../../services/api/start-api.ts';
import { startWorker } from '../../worker/start-worker.ts';
import { FACE_CALLBACK_FORMATS } from '../faces.ts';

export const summary = 'Run everything: embedded Redis (if REDIS_URL is unset), the API and a worker';
export const help = `Usage: corral up

Starts, in one process tree:
  - Redis: the one at REDIS_URL, or else an embedded redis-server on a unix socket in
    CORRAL_DATA_DIR/redis with AOF persistence (queued runs survive a restart), stopped with Corral;
  - the HTTP API on CORRAL_HOST:CORRAL_PORT (default 127.0.0.1:8080);
  - a worker with CORRAL_WORKER_SLOTS sandbox slots (default: the CPU count) and a warm pool of
    up to CORRAL_POOL_MAX_WARM containers built ahead of need (default 8; 0 = off), and job volumes
    mounted ahead (CORRAL_POOL_WARM_VOLUMES per disk size, default 4).
SIGTERM/SIGINT: stop accepting requests, let active runs finish (CORRAL_SHUTDOWN_GRACE_MS), stop Redis.
Configuration: environment variables, see docs/configuration.md.`;

export async function run(_args: string[]): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'corral');
  let embedded: EmbeddedRedis | undefined;
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    embedded = new EmbeddedRedis({ dir: join(config.dataDir, 'redis'), bin: config.redisBin });
    await embedded.start();
    redisUrl = embedded.url;
    log.info({ socket: embedded.socketPath, pid: embedded.pid }, 'embedded redis started');
  }
  try {
    const core = await createCoreContext(config, redisUrl, log);
    const worker = await startWorker(config, redisUrl, log, { metrics: core.metrics, localEvents: core.hub, callbackFormats: FACE_CALLBACK_FORMATS });
    const server = await startApi(core, log);
    const code = await onShutdown(log, async (force) => {
      await server.close();
      await worker.close(force);
      await core.close();
      await embedded?.stop();
    });
    // A run still inside the sandbox after the grace period must not keep the process: it is requeued.
    setTimeout(() => process.exit(code), 200).unref();
    return code;
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}
