// How many libuv thread-pool threads a worker process wants. Every running sandbox holds one for
// its whole run (its koffi call supervises it), interactive and notebook sessions too, and each pool build,
// teardown and volume operation while it lasts. Too few threads fail nothing: work waits for a
// thread — runs start late, pool builds fall behind, a teardown waits behind long runs — which
// looks like a slow service, not a misconfigured one. So the worker says so when it starts.
import type { Config } from '../services/core/config.ts';
import { POOL_MAX_BUILDING } from './sandbox/index.ts';

/** Teardowns, volume work and file copies that may run beside the runs and builds. */
const BACKGROUND_THREADS = 4;

/** libuv's default when UV_THREADPOOL_SIZE is unset or not a number. */
const LIBUV_DEFAULT_THREADS = 4;

export interface ThreadBudget {
  needed: number;
  threads: number;
}

/** The threads this configuration can keep busy at once, and the pool's size; `needed > threads` is a shortfall. */
export function threadBudget(config: Config, uvThreadpoolSize: string | undefined): ThreadBudget {
  const threads = Number.parseInt(uvThreadpoolSize ?? '', 10);
  const building = config.worker.pool.maxWarm > 0 ? POOL_MAX_BUILDING : 0;
  return {
    needed: config.worker.slots + config.interactive.slots + config.sessions.slots + building + BACKGROUND_THREADS,
    threads: Number.isInteger(threads) && threads > 0 ? threads : LIBUV_DEFAULT_THREADS,
  };
}
