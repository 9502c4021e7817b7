// One real Corral stack in this process, composed by bin/stack.ts's startStack() as `corral up`
// is, for the benchmarks: an embedded redis-server on a unix socket in a temp directory (the
// stack's data directory), the API on 127.0.0.1 port 0, and a worker with the real sandbox (the
// warm pool when CORRAL_POOL_MAX_WARM > 0) over the image registry plus one bench-only language,
// `busybox-echo`. Used by api.ts (in its own process) and stack-child.ts (the load test's
// stack process).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../services/core/config.ts';
import { createLogger } from '../services/core/logger.ts';
import { ImageStore } from '../rootfs-images/store.ts';
import { imagesRegistry, UnknownLanguageError, type LanguageRegistry } from '../worker/language-registry.ts';
import { startStack } from '../bin/stack.ts';

/** The bench-only language: `echo hi` in the busybox image (which has no language of its own). */
export const BUSYBOX_ECHO = { id: 'busybox-echo', argv: ['echo', 'hi'], env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' } } as const;

/**
 * The images registry plus `busybox-echo`. `busybox` is the busybox image's layers, or undefined
 * when that image is not built (then the language is listed as not available).
 */
export async function benchRegistry(imagesDir: string): Promise<{ registry: LanguageRegistry; busybox: string[] | undefined }> {
  const base = await imagesRegistry(imagesDir);
  const busybox = await new ImageStore(imagesDir).resolve('busybox').then((i) => i.layerDirs, () => undefined);
  return {
    busybox,
    registry: {
      async list() {
        return [...await base.list(), { id: BUSYBOX_ECHO.id, name: 'busybox echo (bench)', version: '1', compiled: false, fileName: 'main.txt', available: !!busybox }];
      },
      async resolve(id, values) {
        if (id !== BUSYBOX_ECHO.id) return base.resolve(id, values);
        if (!busybox) throw new UnknownLanguageError(id, 'the busybox image is not built');
        return { id, fileName: 'main.txt', layers: busybox, env: { ...BUSYBOX_ECHO.env }, run: [...BUSYBOX_ECHO.argv] };
      },
    },
  };
}

export interface BenchStack {
  url: string;
  config: Config;
  registry: LanguageRegistry;
  /** The busybox image's layers (undefined: not built). */
  busybox: string[] | undefined;
  redisPid: number | undefined;
  /** Stops the API, the worker (active runs are not waited for), the pool, Redis; removes the temp dir. */
  close(): Promise<void>;
}

/**
 * Starts the stack. The configuration is `process.env` with `env` on top, then the stack's own
 * data directory (a temp dir, where the embedded Redis lives), host 127.0.0.1, port 0 and a
 * unique key prefix.
 */
export async function startBenchStack(opts: { env?: Record<string, string>; name?: string } = {}): Promise<BenchStack> {
  const name = opts.name ?? 'corral-bench';
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const removeDir = () => rm(dir, { recursive: true, force: true });
  try {
    const env = { ...process.env, ...opts.env };
    delete env.REDIS_URL;
    const config = loadConfig({
      ...env, CORRAL_DATA_DIR: dir, CORRAL_HOST: '127.0.0.1', CORRAL_PORT: '0', CORRAL_KEY_PREFIX: `bench${randomUUID().slice(0, 6)}`,
    });
    const log = createLogger(config.logLevel, name);
    const { registry, busybox } = await benchRegistry(config.imagesDir);
    const stack = await startStack({ config, log, registry });
    return {
      url: stack.url, config, registry, busybox, redisPid: stack.embeddedRedis?.pid,
      async close() {
        await stack.close(true);
        await removeDir();
      },
    };
  } catch (err) {
    await removeDir();
    throw err;
  }
}
