// Starts a worker host with the production pieces: the real sandbox and the image registry.
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import { registerPoolMetrics, type Metrics } from '../services/core/metrics.ts';
import { imagesRegistry, type LanguageRegistry } from './language-registry.ts';
import { sandboxLauncher } from './launcher.ts';
import { sandboxSelfTest } from './self-test.ts';
import { startWorkerHost, type WorkerHost, type WorkerHostDeps } from './worker-host.ts';
import { threadBudget } from './thread-budget.ts';

export interface StartWorkerOptions {
  metrics?: Metrics;
  /** The languages to serve (default: the image store's); benchmarks add their own. */
  registry?: LanguageRegistry;
  /** The API's EventHub when the API runs in this process (`corral up`). */
  localEvents?: WorkerHostDeps['localEvents'];
}

export async function startWorker(config: Config, redisUrl: string, log: Logger, options: StartWorkerOptions = {}): Promise<WorkerHost> {
  const { metrics, localEvents } = options;
  const budget = threadBudget(config, process.env.UV_THREADPOOL_SIZE);
  if (budget.needed > budget.threads) {
    log.warn(budget, `UV_THREADPOOL_SIZE=${budget.threads} is below the ${budget.needed} threads these slots can keep busy: runs and pool builds will wait for a thread (bin/corral sets 64; raise it with the slots)`);
  }
  const pool = config.worker.pool.maxWarm > 0 ? await openPooledSandbox(config, metrics) : undefined;
  const launcher = sandboxLauncher();
  const registry = options.registry ?? await imagesRegistry(config.imagesDir);
  const host = await startWorkerHost({
    config, redisUrl, log, launcher, registry,
    ...(metrics ? { metrics } : {}),
    ...(localEvents ? { localEvents } : {}),
    selfTest: () => sandboxSelfTest(launcher, config.imagesDir),
  });
  if (!pool) return host;
  log.info(config.worker.pool, 'warm pool on');
  return {
    ...host,
    async close(force) {
      await host.close(force);
      await pool.close(); // warm containers are destroyed, never left for the next start's sweep
    },
  };
}

/** The process-wide sandbox host with a warm pool, and its figures in /metrics. */
async function openPooledSandbox(config: Config, metrics?: Metrics): Promise<{ close(): Promise<void> }> {
  const { SandboxHost, setDefaultSandboxHost } = await import('./sandbox/index.ts');
  const { maxWarm, maxPerImage, warmVolumes } = config.worker.pool;
  const sandbox = SandboxHost.open({ pool: { maxWarm, maxPerImage }, volumes: warmVolumes > 0 ? { perSize: warmVolumes } : false });
  setDefaultSandboxHost(sandbox);
  if (metrics) registerPoolMetrics(metrics, () => sandbox.pool?.stats() ?? [], () => sandbox.volumes?.stats());
  return sandbox;
}
