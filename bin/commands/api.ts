// corral api — the HTTP API only (workers run elsewhere on the same Redis).
import { loadConfig } from '../../services/core/config.ts';
import { createLogger } from '../../services/core/logger.ts';
import { runUntilSignal } from '../run-until-signal.ts';

export const summary = 'Run the HTTP API (needs REDIS_URL; workers run as `corral worker`)';
export const help = `Usage: corral api

Serves API v1 on CORRAL_HOST:CORRAL_PORT against the Redis at REDIS_URL. Runs are executed by
workers (\`corral worker\`) on any host sharing that Redis. Configuration is by environment
variables only; see docs/configuration.md. SIGTERM stops accepting requests, answers \`?wait=true\`
holds at once with their run ids (202), lets requests in progress answer, and exits within a few
seconds; runs continue on the workers.`;

export async function run(_args: string[]): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, 'corral-api');
  if (!config.redisUrl) {
    console.error('corral api: REDIS_URL is not set (use `corral up` for an all-in-one setup with an embedded Redis)');
    return 2;
  }
  return runUntilSignal(log, { config, log, worker: false });
}
