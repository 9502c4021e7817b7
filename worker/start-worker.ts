// Starts a worker host with the production pieces: the real sandbox and the image registry.
import type { Config } from '../services/core/config.ts';
import type { Logger } from '../services/core/logger.ts';
import type { Metrics } from '../services/core/metrics.ts';
import { imagesRegistry } from './language-registry.ts';
import { sandboxLauncher } from './launcher.ts';
import { sandboxSelfTest } from './self-test.ts';
import { startWorkerHost, type WorkerHost } from './worker-host.ts';

export async function startWorker(config: Config, redisUrl: string, log: Logger, metrics?: Metrics): Promise<WorkerHost> {
  const launcher = sandboxLauncher();
  const registry = await imagesRegistry(config.imagesDir);
  return startWorkerHost({
    config, redisUrl, log, launcher, registry,
    ...(metrics ? { metrics } : {}),
    selfTest: () => sandboxSelfTest(launcher, config.imagesDir),
  });
}
