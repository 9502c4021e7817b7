// Starts a worker host with the production pieces: the real sandbox and the image registry.
import { availableParallelism } from 'node:os';
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import { registerPoolMetrics, type Metrics } from '../services/core/metrics.ts';
import { imagesRegistry, type LanguageRegistry } from './language-registry.ts';
import { sandboxLauncher } from './launcher.ts';
import { cpuPlacement, placingLauncher } from './cpu-placement.ts';
import { sandboxSelfTest } from './self-test.ts';
import { startWorkerHost, type WorkerHost, type WorkerHostDeps } from './worker-host.ts';
import { threadBudget } from './thread-budget.ts';
import type { SandboxHost } from './sandbox/index.ts';

export interface StartWorkerOptions {
  metrics?: Metrics;
  /** The languages to serve (default: the image store's); benchmarks add their own. */
  registry?: LanguageRegistry;
  /** The API's EventHub when the API runs in this process (`corral up`). */
  localEvents?: WorkerHostDeps['localEvents'];
  /** Callback bodies in the faces' shapes (bin/faces.ts). */
  callbackFormats?: WorkerHostDeps['callbackFormats'];
}

export async function startWorker(config: Config, redisUrl: string, log: Logger, options: StartWorkerOptions = {}): Promise<WorkerHost> {
  const { metrics, localEvents } = options;
  // libuv's own variable, not Corral's configuration: read where libuv read it, at start.
  const budget = threadBudget(config, process.env.UV_THREADPOOL_SIZE);
  if (budget.needed > budget.threads) {
    log.warn(budget, `UV_THREADPOOL_SIZE=${budget.threads} is below the ${budget.needed} threads these slots can keep busy: runs and pool builds will wait for a thread (bin/corral sets 64; raise it with the slots)`);
  }
  const sandbox = await openSandbox(config, log, metrics);
  const placement = cpuPlacement(config.worker.cpuPlacement, sandbox.placementCpus, config.worker.slots);
  if ('off' in placement) log.info({ reason: placement.off }, 'CPU placement off: runs share the worker\'s CPUs');
  else log.info({ cpus: placement.leases.cpus, slots: config.worker.slots }, 'CPU placement on: each run on CPUs of its own');
  const launcher = 'leases' in placement ? placingLauncher(sandboxLauncher(sandbox), placement.leases) : sandboxLauncher(sandbox);
  const registry = options.registry ?? await imagesRegistry(config.imagesDir);
  const host = await startWorkerHost({
    config, redisUrl, log, launcher, registry,
    ...(metrics ? { metrics } : {}),
    ...(localEvents ? { localEvents } : {}),
    ...(options.callbackFormats ? { callbackFormats: options.callbackFormats } : {}),
    selfTest: () => sandboxSelfTest(launcher, config.imagesDir),
  });
  if (sandbox.pool) log.info(config.worker.pool, 'warm pool on');
  return {
    ...host,
    async close(force) {
      await host.close(force);
      await sandbox.close(); // warm containers are destroyed, never left for the next start's sweep
    },
  };
}

/** The worker's sandbox host, with a warm pool unless CORRAL_POOL_MAX_WARM is 0, and its figures in /metrics. */
async function openSandbox(config: Config, log: Logger, metrics?: Metrics): Promise<SandboxHost> {
  const { SandboxHost, procViewAvailable } = await import('./sandbox/index.ts');
  const { maxWarm, maxPerImage, warmVolumes } = config.worker.pool;
  const sandbox = SandboxHost.open({
    stateDir: config.stateDir,
    sweepIntervalMs: config.worker.sweepIntervalMs,
    // A cpuset cgroup per run only where the worker will place runs (cpuPlacement() decides; more
    // slots than CPUs places none).
    cpuPlacement: config.worker.cpuPlacement !== 'off' && config.worker.slots <= availableParallelism(),
    ...(maxWarm > 0 ? { pool: { maxWarm, maxPerImage }, volumes: warmVolumes > 0 ? { perSize: warmVolumes } : false } : {}),
  });
  if (metrics && sandbox.pool) registerPoolMetrics(metrics, () => sandbox.pool?.stats() ?? [], () => sandbox.volumes?.stats());
  const mode = config.worker.procView;
  const missing = mode === 'off' ? undefined : procViewAvailable();
  if (mode === 'off' || (mode === 'auto' && missing)) {
    if (missing) log.warn({ reason: missing }, 'truthful /proc off: containers show the kernel\'s /proc (CORRAL_PROC_VIEW=auto)');
    return sandbox;
  }
  try {
    await sandbox.startProcView();
    log.info('truthful /proc on: containers see their own limits in /proc');
  } catch (err) {
    if (mode === 'on') {
      await sandbox.close();
      throw err;
    }
    log.warn({ err: (err as Error).message }, 'truthful /proc off: its daemon did not start (CORRAL_PROC_VIEW=auto)');
  }
  return sandbox;
}
