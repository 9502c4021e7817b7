// A worker process's run loop: a BullMQ worker with `slots` concurrent sandbox runs, the callback
// dispatcher, the cancel listener and the heartbeat. `close()` is the graceful SIGTERM path: stop
// taking jobs, let active runs finish for up to the grace period, then leave the rest to be
// requeued by stalled-job recovery on another worker.
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import { connectRedis, redisKeys } from '../services/core/redis.ts';
import { RunStore } from '../services/core/run-store.ts';
import { WorkerDirectory, type Heartbeat } from '../services/core/worker-directory.ts';
import type { CallbackFormatters } from '../services/core/callback-format.ts';
import { CallbackDispatcher } from './callbacks.ts';
import { CancelListener } from './cancels.ts';
import type { Launcher } from './launcher.ts';
import type { LanguageRegistry } from './language-registry.ts';
import { createRunProcessor, failAbandoned, type RunProcessorDeps } from './run-processor.ts';
import { startInteractiveWorker } from './interactive-worker.ts';
import { startSessionWorker } from './sessions/session-worker.ts';

export interface WorkerHostDeps {
  config: Config;
  redisUrl: string;
  log: Logger;
  metrics?: Metrics;
  launcher: Launcher;
  registry: LanguageRegistry;
  /** Resolves when the sandbox works on this host; its result goes into the heartbeat. */
  selfTest: () => Promise<void>;
  /** The API's EventHub when it runs in this process (`corral up`): results reach it directly. */
  localEvents?: RunProcessorDeps['localEvents'];
  /** Callback bodies in the faces' shapes, by format name (bin/ registers Judge0's). */
  callbackFormats?: CallbackFormatters;
}

export interface WorkerHost {
  name: string;
  /** Graceful stop (SIGTERM); `force` skips waiting for active runs. */
  close(force?: boolean): Promise<void>;
}

export async function startWorkerHost(deps: WorkerHostDeps): Promise<WorkerHost> {
  const { config, log } = deps;
  const name = config.worker.name ?? `${hostname()}:${process.pid}`;
  const keys = redisKeys(config.keyPrefix);
  const redis = connectRedis(deps.redisUrl, `corral-worker:${name}`);
  const sub = connectRedis(deps.redisUrl, `corral-worker-cancels:${name}`);
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  sub.on('error', (err) => log.warn({ err: err.message }, 'redis subscriber error'));
  const store = new RunStore(redis, keys, config.resultTtlSeconds);
  const directory = new WorkerDirectory(redis, keys.workers, config.worker.staleMs);
  const cancels = new CancelListener(sub, keys.cancelChannel);
  const callbacks = new CallbackDispatcher(redis, keys, config, log, deps.metrics, deps.callbackFormats);

  let selfTest: Heartbeat['selfTest'] = { ok: false, error: 'self-test not run yet' };
  const selfTestDone = deps.selfTest().then(
    () => { selfTest = { ok: true }; },
    (err: Error) => { selfTest = { ok: false, error: err.message }; log.error({ err: err.message }, 'sandbox self-test failed'); },
  );

  const processRun = createRunProcessor({
    store, cancels, log, ...(deps.metrics ? { metrics: deps.metrics } : {}),
    pipeline: {
      launcher: deps.launcher,
      registry: deps.registry,
      collectCaps: { maxFiles: config.filesMax, maxFileBytes: config.collect.maxFileBytes, maxTotalBytes: config.collect.maxTotalBytes },
      ...(deps.metrics ? { onLaunch: (o) => { const t = o.timings; if (t) deps.metrics!.sandboxSetupSeconds.observe((t.cgroupMs + t.namespacesMs + t.mountsMs + t.execMs) / 1000); } } : {}),
    },
    callback: (request, result) => callbacks.enqueue(request, result),
    ...(deps.localEvents ? { localEvents: deps.localEvents } : {}),
  });

  const workerConnection = redis.duplicate();
  workerConnection.on('error', (err) => log.warn({ err: err.message }, 'redis worker connection error'));
  let active = 0;
  const worker = new Worker(keys.queue, async (job) => {
    active++;
    try { await processRun(job); } finally { active--; }
  }, {
    connection: workerConnection,
    prefix: keys.bullPrefix,
    name,
    concurrency: config.worker.slots,
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.stalledIntervalMs,
    maxStalledCount: config.worker.maxStalledCount,
    drainDelay: 1,
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message);
    if (exhausted) void failAbandoned(store, String(job.id), err.message, log).catch(() => {});
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker error'));
  // Interactive sessions (Piston's /api/v2/connect): their own queue and slots, next to the runs.
  const interactive = startInteractiveWorker({ config, redisUrl: deps.redisUrl, log, registry: deps.registry, name, sandbox: deps.launcher });
  const sessions = startSessionWorker({ config, redisUrl: deps.redisUrl, log, registry: deps.registry, name, sandbox: deps.launcher, ...(deps.metrics ? { metrics: deps.metrics } : {}) });

  let languages: Heartbeat['languages'] = [];
  const beat = async () => {
    try {
      languages = await deps.registry.list();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot list languages');
    }
    await directory.report({ name, at: Date.now(), slots: config.worker.slots, active, selfTest, languages })
      .catch((err: Error) => log.warn({ err: err.message }, 'heartbeat failed'));
  };
  await selfTestDone;
  await beat();
  const timer = setInterval(() => void beat(), config.worker.heartbeatMs);
  log.info({ worker: name, slots: config.worker.slots, selfTest }, 'worker started');

  return {
    name,
    async close(force = false) {
      clearInterval(timer);
      log.info({ worker: name, force }, 'worker stopping: no new runs');
      await directory.remove(name).catch(() => {});
      await interactive?.close();
      await sessions?.close();
      const closing = worker.close(force);
      if (!force) {
        let t: NodeJS.Timeout | undefined;
        const grace = new Promise<'timeout'>((r) => { t = setTimeout(() => r('timeout'), config.worker.shutdownGraceMs); });
        const res = await Promise.race([closing.then(() => 'done' as const), grace]);
        clearTimeout(t);
        if (res === 'timeout') {
          // BullMQ's close(true) would wait for the close already in progress; instead drop the
          // connections: the active runs' locks expire and other workers pick them up again.
          log.warn({ worker: name }, 'grace period over; active runs are left to be requeued');
          closing.catch(() => {});
        }
      } else {
        await closing;
      }
      await callbacks.close();
      cancels.close();
      workerConnection.disconnect();
      redis.disconnect();
      log.info({ worker: name }, 'worker stopped');
    },
  };
}
