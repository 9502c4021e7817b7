// corral api — the HTTP API only (workers run elsewhere on the same Redis).
import { loadConfig } from '../../services/core/config.ts';
import { createCoreContext } from '../../services/core/context.ts';
import { onShutdown } from '../../services/core/lifecycle.ts';
import { createLogger } from '../../services/core/logger.ts';
import { startApi } from '../../services/api/start-api.ts';

export const summary = 'Run the HTTP API (needs REDIS_URL; workers run as `corral worker`)';
export const help = `Usage: corral api

Serves API v1 on CORRAL_HOST:CORRAL_PORT against the Redis at REDIS_URL. Runs are executed by
workers (\`corral worker\`) on any host sharing that Redis. Configuration is by environment
variables only; see docs/configuration.md. SIGTERM stops accepting requests and exits.`;

export async function run(_args: string[]): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'corral-api');
  if (!config.redisUrl) {
    console.error('corral api: REDIS_URL is not set (use `corral up` for an all-in-one setup with an embedded Redis)');
    return 2;
  }
  const core = await createCoreContext(config, config.redisUrl, log);
  const server = await startApi(core, log);
  return onShutdown(log, async () => {
    await server.close();
    await core.close();
  });
}
