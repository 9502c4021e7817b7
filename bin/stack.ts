// The composition root: Redis (REDIS_URL, or an embedded redis-server), the core context, the
// HTTP API and a worker, started in that order and stopped in the reverse one. `corral up`,
// `corral api`, `corral worker`, the benchmarks (bench/bench-stack.ts) and the end-to-end tests
// (test/e2e/harness.ts) all start Corral through startStack(); nothing else assembles these
// pieces. It lives under bin/ because it is the one place that knows both the faces and the
// worker (services/core knows neither).
import { join } from 'node:path';
import type { Config } from '../services/core/config.ts';
import { createCoreContext, type CoreContext } from '../services/core/context.ts';
import { bounded } from '../services/core/lifecycle.ts';
import type { Logger } from '../services/core/logger.ts';
import { createMetrics, type Metrics } from '../services/core/metrics.ts';
import { EmbeddedRedis } from '../services/core/redis.ts';
import { localSessionsOf } from '../services/core/session-local.ts';
import { startApi } from '../services/api/start-api.ts';
import type { RunningServer } from '../services/api/server.ts';
import type { Launcher } from '../worker/launcher.ts';
import type { LanguageRegistry } from '../worker/language-registry.ts';
import { serveMetrics } from '../worker/metrics-server.ts';
import { startWorker } from '../worker/start-worker.ts';
import { startWorkerHost, type WorkerHost } from '../worker/worker-host.ts';
import { FACE_CALLBACK_FORMATS } from './faces.ts';

/** A worker over a given launcher (tests: a fake sandbox) instead of the real sandbox. */
export interface InjectedWorker {
  launcher: Launcher;
  registry: LanguageRegistry;
  selfTest?: () => Promise<void>;
}

export interface StackOptions {
  config: Config;
  log: Logger;
  /**
   * Redis: a running one to use (its URL, or an EmbeddedRedis the caller owns and stops).
   * Default: config.redisUrl, or else an embedded redis-server in config.dataDir/redis, owned
   * by the stack (stopped last).
   */
  redis?: string | EmbeddedRedis;
  /** Serve the API (default true). */
  api?: boolean;
  /**
   * Start a worker: true = the real sandbox (worker/start-worker.ts); an InjectedWorker = a
   * worker host over that launcher; false = none (default true).
   */
  worker?: boolean | InjectedWorker;
  /** The real worker's languages (default: the image store's); benchmarks add their own. */
  registry?: LanguageRegistry;
  /**
   * Aborts a start that is still waiting (for a Redis that does not answer): what has started
   * is stopped and startStack rejects. A shutdown signal during the start uses it.
   */
  signal?: AbortSignal;
}

export interface Stack {
  config: Config;
  redisUrl: string;
  /** The embedded Redis the stack started (undefined: REDIS_URL or one the caller gave). */
  embeddedRedis: EmbeddedRedis | undefined;
  core: CoreContext | undefined;
  server: RunningServer | undefined;
  /** The API's URL (empty without an API). */
  url: string;
  workers: WorkerHost[];
  /** Starts one more worker host over `injected`'s launcher (tests with several workers). */
  addWorker(injected: InjectedWorker): Promise<WorkerHost>;
  /**
   * Stops everything in order: the API (no new requests; waits answer at once), the workers
   * (grace period, then their runs stopped and requeued), the core's connections, the embedded
   * Redis last. `force` (true, or a signal aborting later: a second SIGTERM) skips the grace
   * period and kills the embedded Redis sooner if it does not stop by itself. Idempotent.
   */
  close(force?: boolean | AbortSignal): Promise<void>;
}

/** Rejects when `signal` aborts first; `work` goes on unobserved (the process is stopping). */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('the start was given up: a shutdown signal came while it waited'));
    if (signal.aborted) { work.catch(() => {}); onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** After a forced stop, the embedded Redis gets this long to flush its AOF before SIGKILL. */
const REDIS_FORCED_STOP_MS = 1_000;
/** Longest wait for the worker metrics listener to close. */
const METRICS_CLOSE_MS = 1_000;

export async function startStack(opts: StackOptions): Promise<Stack> {
  const { config, log } = opts;
  const undo: Array<(force: AbortSignal) => Promise<unknown>> = [];
  const stopAll = async (force: AbortSignal) => {
    for (const step of undo.splice(0).reverse()) await step(force).catch((err: Error) => log.warn({ err: err.message }, 'shutdown step failed'));
  };
  let embeddedRedis: EmbeddedRedis | undefined;
  let redisUrl: string;
  try {
    if (opts.redis instanceof EmbeddedRedis) redisUrl = opts.redis.url;
    else if (opts.redis ?? config.redisUrl) redisUrl = (opts.redis ?? config.redisUrl)!;
    else {
      const redis = new EmbeddedRedis({ dir: join(config.dataDir, 'redis'), bin: config.redisBin });
      undo.push((force) => redis.stop(force.aborted ? REDIS_FORCED_STOP_MS : undefined));
      await redis.start();
      embeddedRedis = redis;
      redisUrl = redis.url;
      log.info({ socket: redis.socketPath, pid: redis.pid }, 'embedded redis started');
    }

    const api = opts.api ?? true;
    // Each step that can wait for Redis (the API's first connection, the worker's first
    // heartbeat) can be given up by opts.signal.
    const core = api ? await abortable(createCoreContext(config, redisUrl, log), opts.signal) : undefined;
    if (core) undo.push(() => core.close());
    const metrics: Metrics | undefined = core ? core.metrics : (config.metrics ? createMetrics() : undefined);

    const workers: WorkerHost[] = [];
    undo.push(async (force) => {
      await Promise.all(workers.map((w) => w.close(force)));
    });
    const addWorker = async (injected: InjectedWorker) => {
      const w = await abortable(startWorkerHost({
        config, redisUrl, log, launcher: injected.launcher, registry: injected.registry,
        ...(metrics ? { metrics } : {}),
        ...(core ? { localEvents: core.hub } : {}),
        callbackFormats: FACE_CALLBACK_FORMATS,
        selfTest: injected.selfTest ?? (async () => {}),
      }), opts.signal);
      workers.push(w);
      return w;
    };
    const worker = opts.worker ?? true;
    if (worker === true) {
      workers.push(await abortable(startWorker(config, redisUrl, log, {
        ...(metrics ? { metrics } : {}),
        ...(core ? { localEvents: core.hub } : {}),
        ...(opts.registry ? { registry: opts.registry } : {}),
        callbackFormats: FACE_CALLBACK_FORMATS,
      }), opts.signal));
      // A worker without the API serves its own metrics when asked to.
      if (!core && metrics && config.worker.metricsPort !== undefined) {
        const m = await serveMetrics(metrics, config.host, config.worker.metricsPort);
        undo.push(() => bounded(m.close(), METRICS_CLOSE_MS));
        log.info({ port: m.port }, 'worker metrics listening');
      }
    } else if (worker) {
      await addWorker(worker);
    }

    // The API last, so it never answers before the rest is up; stopped first. With a worker in
    // this process, requests to the sessions it holds go to it directly (CORRAL_SESSION_LOCAL_PATH;
    // services/core/session-local.ts); any other session's take the Redis relay.
    // (Asked at each request: a worker added later, addWorker, counts too; none: it finds nothing.)
    const localSessions = config.sessions.localPath ? localSessionsOf(() => workers.map((w) => w.localSessions)) : undefined;
    const server = core ? await startApi(core, log, [], localSessions) : undefined;
    if (server) undo.push(() => server.close());

    let closing: Promise<void> | undefined;
    return {
      config, redisUrl, embeddedRedis, core, server, url: server?.url ?? '', workers, addWorker,
      close(force = false) {
        const signal = force === true ? AbortSignal.abort() : force === false ? new AbortController().signal : force;
        return (closing ??= stopAll(signal));
      },
    };
  } catch (err) {
    await stopAll(AbortSignal.abort());
    throw err;
  }
}
