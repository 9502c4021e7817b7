// Wires the core pieces (Redis connections, queue, run store, event hub, worker directory, the
// RunService) for one process. Both `corral api` and `corral up` and the tests build it this way.
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { EventHub } from './event-hub.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createCallbackQueue } from './callback-queue.ts';
import { createRunQueue, queueCounts, type RunQueue } from './queue.ts';
import { QueueRunService } from './queue-run-service.ts';
import { bounded, redisStepMs } from './lifecycle.ts';
import { connectApiRedis, connectRedis, redisKeys, type RedisKeys } from './redis.ts';
import { RunStore } from './run-store.ts';
import { WorkerDirectory } from './worker-directory.ts';

/** What /readyz reports: each check with ok and a detail when it fails. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface CoreContext {
  config: Config;
  redisUrl: string;
  redis: Redis;
  keys: RedisKeys;
  queue: RunQueue;
  store: RunStore;
  hub: EventHub;
  directory: WorkerDirectory;
  runService: QueueRunService;
  metrics: Metrics | undefined;
  readiness: () => Promise<Readiness>;
  close(): Promise<void>;
}

export async function createCoreContext(config: Config, redisUrl: string, log: Logger, metrics?: Metrics): Promise<CoreContext> {
  // Requests never wait for Redis beyond config.apiRedisTimeoutMs (503 not_ready instead).
  const redis = await connectApiRedis(redisUrl, 'corral-api', config.apiRedisTimeoutMs, (err) => log.warn({ err: err.message }, 'redis connection error'));
  const sub = connectRedis(redisUrl, 'corral-events');
  sub.on('error', (err) => log.warn({ err: err.message }, 'redis subscriber error'));
  const keys = redisKeys(config.keyPrefix);
  // One connection for the queue and the store: a submit sends the run's record and its job
  // together and relies on Redis running them in the order sent (queue-run-service.ts).
  const queue = createRunQueue(redis, keys);
  queue.on('error', (err) => log.warn({ err: err.message }, 'queue error'));
  // Big results are read over a connection of their own, bounded by their size (run-store.ts).
  const bulk = await connectApiRedis(redisUrl, 'corral-api-bulk', undefined, (err) => log.warn({ err: err.message }, 'redis bulk connection error'));
  const store = new RunStore(redis, keys, config.resultTtlSeconds, { redis: bulk, timeoutMs: config.apiRedisTimeoutMs });
  const hub = new EventHub(sub, keys.eventsChannel);
  await hub.whenReady();
  const directory = new WorkerDirectory(redis, keys.workers, config.worker.staleMs);
  const m = metrics ?? (config.metrics ? createMetrics(() => queueCounts(queue)) : undefined);
  // A run the API cancels while queued has its callback queued here (a worker delivers it).
  const callbacks = createCallbackQueue(redis, keys);
  callbacks.on('error', (err) => log.warn({ err: err.message }, 'callback queue error'));
  const runService = new QueueRunService({ config, queue, store, hub, log, languages: () => directory.languages(), callbacks });

  async function readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    try {
      await redis.ping();
      checks.redis = { ok: true };
    } catch (e) {
      checks.redis = { ok: false, detail: (e as Error).message };
      return { ready: false, checks };
    }
    const workers = await directory.fresh();
    checks.workers = workers.length > 0
      ? { ok: true, detail: `${workers.length} worker(s) seen in the last ${config.worker.staleMs} ms` }
      : { ok: false, detail: `no worker seen in the last ${config.worker.staleMs} ms` };
    const passed = workers.filter((w) => w.selfTest.ok);
    checks.sandbox = passed.length > 0
      ? { ok: true }
      : { ok: false, detail: workers.map((w) => `${w.name}: ${w.selfTest.error ?? 'self-test not passed'}`).join('; ') || 'no worker to self-test' };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  return {
    config, redisUrl, redis, keys, queue, store, hub, directory, runService, metrics: m, readiness,
    async close() {
      runService.close();
      // Each bounded: a Redis that is gone must not hold the shutdown (lifecycle.ts).
      const ms = redisStepMs(redis);
      await Promise.all([bounded(queue.close(), ms), bounded(callbacks.close(), ms), bounded(hub.close(), ms)]);
      redis.disconnect();
      bulk.disconnect();
      sub.disconnect();
    },
  };
}
