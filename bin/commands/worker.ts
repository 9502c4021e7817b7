// corral worker — executes runs from the queue; start one per worker host.
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/logger.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export const summary = 'Run a worker: executes queued runs in sandboxes (needs REDIS_URL)';
export const help = `Usage: corral worker

Takes runs from the queue at REDIS_URL and executes up to CORRAL_WORKER_SLOTS of them at once
(default: the CPU count). Start one per host; all hosts share one Redis. SIGTERM: stop taking
runs, let active ones finish for CORRAL_SHUTDOWN_GRACE_MS, then stop the rest (their sandboxes
killed) and put them back in the queue at once for another worker, exit. A second SIGTERM skips
the grace period.
Keeps up to CORRAL_POOL_MAX_WARM containers built ahead of need, sized by demand (default 8; 0 =
off) and CORRAL_POOL_WARM_VOLUMES job volumes mounted ahead per disk size (default 4), and runs up
to CORRAL_INTERACTIVE_SLOTS interactive sessions (Piston's WebSocket) besides.
Each running sandbox holds a Node thread-pool thread: UV_THREADPOOL_SIZE (64 unless set) must
cover the slots, the interactive slots, the session slots and 8 more; the worker warns at start
when it does not.
With CORRAL_WORKER_METRICS_PORT set, serves Prometheus metrics at /metrics on CORRAL_HOST.`;

export async function run(_args: string[]): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'corral-worker');
  if (!config.redisUrl) {
    console.error('corral worker: REDIS_URL is not set');
    return 2;
  }
  return runUntilSignal(log, { config, log, api: false });
}
