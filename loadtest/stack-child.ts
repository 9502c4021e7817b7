// One real Corral stack in its own process, as `corral up` composes it and as bench-api.ts starts
// it: an embedded redis-server on a unix socket in a temp directory, the API on 127.0.0.1 port 0,
// a worker with the real sandbox and image registry. The configuration comes from the environment
// (CORRAL_POOL_MAX_WARM among it), so each configuration gets a fresh process and a fresh sandbox
// host. Started by stack.ts over an IPC channel: it reports {url} when ready and stops when told
// to, or when the parent goes away.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../services/core/config.ts';
import { createCoreContext } from '../services/core/context.ts';
import { createLogger } from '../services/core/logger.ts';
import { EmbeddedRedis } from '../services/core/redis.ts';
import { startApi } from '../services/api/start-api.ts';
import { startWorker } from '../worker/start-worker.ts';

async function main(): Promise<void> {
  if (!process.send) throw new Error('stack-child.ts is started by loadtest/stack.ts (needs an IPC channel)');
  const dir = await mkdtemp(join(tmpdir(), 'corral-loadtest-'));
  const redis = new EmbeddedRedis({ dir: join(dir, 'redis') });
  await redis.start();
  const config = loadConfig({
    ...process.env,
    REDIS_URL: redis.url, CORRAL_HOST: '127.0.0.1', CORRAL_PORT: '0', CORRAL_KEY_PREFIX: `loadtest${randomUUID().slice(0, 6)}`,
  });
  const log = createLogger(config.logLevel, 'corral-loadtest');
  const core = await createCoreContext(config, redis.url, log);
  const worker = await startWorker(config, redis.url, log, core.metrics);
  const server = await startApi(core, log);

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    await server.close().catch(() => {});
    await worker.close(true).catch(() => {});
    await core.close().catch(() => {});
    await redis.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  })().finally(() => setTimeout(() => process.exit(0), 100).unref()));
  process.on('message', (m) => { if (m === 'stop') void stop(); });
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  process.send({ url: server.url, slots: config.worker.slots, redisPid: redis.pid });
}

main().catch((err) => {
  console.error(`loadtest stack: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
