// A worker process's run loop: a BullMQ worker with `slots` concurrent sandbox runs, the callback
// dispatcher, the cancel listener and the heartbeat. `close()` is the SIGTERM path: stop taking
// jobs, let active runs finish for up to the grace period (none when forced), then stop the rest
// (their sandboxes killed through the pipeline's abort signal) and put their jobs back in the
// queue at once for another worker. Every step that needs Redis is bounded, so a Redis that is
// gone delays the exit by seconds, not forever (issue 23).
import { hostname } from 'node:os';
import { Worker } from 'bullmq';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import { bounded, redisStepMs } from '../services/core/lifecycle.ts';
import { connectRedis, redisKeys } from '../services/core/redis.ts';
import { RunStore } from '../services/core/run-store.ts';
import { WorkerDirectory, type Heartbeat } from '../services/core/worker-directory.ts';
import type { CallbackFormatters } from '../services/core/callback-format.ts';
import type { LocalSessions } from '../services/core/session-local.ts';
import { CallbackDispatcher } from './callbacks.ts';
import { CancelListener } from './cancels.ts';
import type { Launcher } from './launcher.ts';
import type { LanguageRegistry } from './language-registry.ts';
import { createRunProcessor, failAbandoned, type RunProcessorDeps } from './run-processor.ts';
import { startInteractiveWorker } from './interactive-worker.ts';
import { SlotLedger } from './spare-slots.ts';
import { CompileCache } from './compile-cache.ts';
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
  /** Its notebook sessions, for an API in the same process (bin/stack.ts); undefined without session slots. */
  localSessions?: LocalSessions;
  /**
   * Stops the worker (SIGTERM). `force` (a boolean, or a signal that may abort later, e.g. on a
   * second SIGTERM) skips the rest of the grace period: active runs are stopped at once.
   */
  close(force?: boolean | AbortSignal): Promise<void>;
}

/**
 * Longest wait for stopped runs to end (their sandboxes killed and cleaned up, their jobs put
 * back): a kill takes milliseconds; this only bounds a sandbox that does not come back.
 */
const STOP_RUNS_MS = 3_000;

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

  // The worker's slots: one per active job, the free ones lent to a job's tests side by side.
  const slots = new SlotLedger(config.worker.slots);
  const compileCache = config.worker.compileCacheBytes > 0 ? new CompileCache({ maxBytes: config.worker.compileCacheBytes }) : undefined;
  const processRun = createRunProcessor({
    store, cancels, log, ...(deps.metrics ? { metrics: deps.metrics } : {}),
    pipeline: {
      launcher: deps.launcher,
      registry: deps.registry,
      collectCaps: { maxFiles: config.filesMax, maxFileBytes: config.collect.maxFileBytes, maxTotalBytes: config.collect.maxTotalBytes },
      spareSlots: slots,
      ...(compileCache ? { compileCache } : {}),
      resultOutputMaxBytes: config.resultOutputMaxBytes,
      ...(deps.metrics ? { onLaunch: (o) => { const t = o.timings; if (t) deps.metrics!.sandboxSetupSeconds.observe((t.cgroupMs + t.namespacesMs + t.mountsMs + t.execMs) / 1000); } } : {}),
    },
    callback: (request, result) => callbacks.enqueue(request, result),
    ...(deps.localEvents ? { localEvents: deps.localEvents } : {}),
  });

  const workerConnection = redis.duplicate();
  workerConnection.on('error', (err) => log.warn({ err: err.message }, 'redis worker connection error'));
  // Each active run's job, and what ends it early on shutdown.
  const running = new Set<Promise<unknown>>();
  const stopRuns = new AbortController();
  let active = 0;
  const worker = new Worker(keys.queue, async (job, token) => {
    active++;
    // Its slot may still be lent to another job's test: it starts when that test ends (spare-slots.ts).
    const run = slots.jobStarted().then(() => processRun(job, { signal: stopRuns.signal, token, redisUp: () => workerConnection.status === 'ready' }));
    const settled = run.catch(() => {});
    running.add(settled);
    try { await run; } finally { active--; slots.jobEnded(); running.delete(settled); }
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

  const forced = new AbortController();
  let closing: Promise<void> | undefined;
  const allRunsEnded = () => Promise.all([...running]);

  async function close(): Promise<void> {
    clearInterval(timer);
    log.info({ worker: name, active, force: forced.signal.aborted }, 'worker stopping: no new runs');
    // Stops taking jobs now; resolves when the active ones are done and its connections closed.
    const bullClosed = worker.close();
    bullClosed.catch(() => {});
    // Interactive sessions end at once (a person is waiting on them; they are never requeued):
    // their sandboxes are stopped at once (synchronously in close()); what is waited for is the
    // rest of their close, which needs Redis.
    const interactiveClosed = bounded(interactive?.close(), redisStepMs(workerConnection));
    // Notebook sessions end too (reason worker_shutdown): a kernel's state cannot move elsewhere.
    const sessionsClosed = bounded(sessions?.close(), redisStepMs(workerConnection));
    // While Redis is unreachable there is nothing to wait for: the entry goes stale by itself.
    if (redis.status === 'ready') await bounded(directory.remove(name), redisStepMs(redis));
    if (running.size > 0 && !forced.signal.aborted) {
      const ended = await bounded(allRunsEnded(), config.worker.shutdownGraceMs, forced.signal);
      if (!ended) log.warn({ worker: name, active }, forced.signal.aborted ? 'second signal: stopping the active runs' : 'grace period over: stopping the active runs');
    }
    // From here on every run stops at once, also one that BullMQ handed over while closing.
    stopRuns.abort();
    const runsStopped = () => bounded(allRunsEnded(), STOP_RUNS_MS).then((ok) => {
      if (!ok) log.error({ worker: name, active }, 'runs did not stop in time; their jobs are requeued when their locks expire');
    });
    if (running.size > 0) await runsStopped();
    const ms = redisStepMs(workerConnection);
    const [bullDone] = await Promise.all([bounded(bullClosed, ms), bounded(callbacks.close(), ms), interactiveClosed, sessionsClosed]);
    // BullMQ's own connection (its blocking reads) must not go on reconnecting after us.
    if (!bullDone) await bounded(worker.disconnect(), ms);
    if (running.size > 0) await runsStopped();
    await compileCache?.close(); // its volumes unmounted, never left for the next start's sweep
    cancels.close();
    workerConnection.disconnect();
    redis.disconnect();
    sub.disconnect();
    log.info({ worker: name }, 'worker stopped');
  }

  return {
    name,
    ...(sessions ? { localSessions: sessions.local } : {}),
    close(force = false) {
      if (force === true) forced.abort();
      else if (force) {
        if (force.aborted) forced.abort();
        else force.addEventListener('abort', () => forced.abort(), { once: true });
      }
      return (closing ??= close());
    },
  };
}
