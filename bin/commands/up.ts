// corral up — everything in one process tree: embedded Redis (unless REDIS_URL is set), the API
// and a worker.
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/logger.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export const summary = 'Run everything: embedded Redis (if REDIS_URL is unset), the API and a worker';
export const help = `Usage: corral up

Starts, in one process tree:
  - Redis: the one at REDIS_URL, or else an embedded redis-server on a unix socket in
    CORRAL_DATA_DIR/redis with AOF persistence (queued runs survive a restart), stopped with Corral;
  - the HTTP API on CORRAL_HOST:CORRAL_PORT (default 127.0.0.1:8080);
  - a worker with CORRAL_WORKER_SLOTS sandbox slots (default: the CPU count) and a warm pool of
    up to CORRAL_POOL_MAX_WARM containers built ahead of need (default 8; 0 = off), and job volumes
    mounted ahead (CORRAL_POOL_WARM_VOLUMES per disk size, default 4).
SIGTERM/SIGINT: stop accepting requests, let active runs finish for CORRAL_SHUTDOWN_GRACE_MS, then
stop them (they go back to the queue), stop Redis last. A second signal skips the grace period and
exits within a few seconds. The embedded Redis runs in its own session, so a signal to Corral's
process group does not stop it before Corral is done with it (docs/operations.md#shutdown).
Configuration: environment variables, see docs/configuration.md.`;

export async function run(_args: string[]): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'corral');
  return runUntilSignal(log, { config, log });
}
