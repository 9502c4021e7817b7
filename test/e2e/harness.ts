// Test harness: a whole Corral stack in this process on a private redis-server (unix socket in a
// temp dir, stopped by pid), the API on port 0, and optionally a worker host with a given launcher.
// Composed by bin/stack.ts's startStack(), as `corral up` composes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../../services/core/config.ts';
import type { CoreContext } from '../../services/core/context.ts';
import { createLogger } from '../../services/core/logger.ts';
import { EmbeddedRedis } from '../../services/core/redis.ts';
import type { RunningServer } from '../../services/api/server.ts';
import type { Launcher } from '../../worker/launcher.ts';
import type { LanguageRegistry } from '../../worker/language-registry.ts';
import type { WorkerHost } from '../../worker/worker-host.ts';
import { startStack as composeStack } from '../../bin/stack.ts';

export interface Stack {
  url: string;
  dir: string;
  config: Config;
  core: CoreContext;
  redis: EmbeddedRedis;
  server: RunningServer;
  worker: WorkerHost | undefined;
  startWorker(): Promise<WorkerHost>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  launcher?: Launcher;
  registry?: LanguageRegistry;
  /** Start a worker host now (default: true when a launcher is given). */
  worker?: boolean;
  selfTest?: () => Promise<void>;
  /** Reuse a redis (e.g. to restart the API around it). */
  redis?: EmbeddedRedis;
}

export async function startRedis(dir?: string): Promise<EmbeddedRedis> {
  const d = dir ?? await mkdtemp(join(tmpdir(), 'corral-redis-'));
  const r = new EmbeddedRedis({ dir: d, bin: '/usr/bin/redis-server' });
  await r.start();
  return r;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-test-'));
  const redis = opts.redis ?? await startRedis(join(dir, 'redis'));
  const config = loadConfig({
    REDIS_URL: redis.url,
    CORRAL_PORT: '0',
    CORRAL_LOG_LEVEL: process.env.CORRAL_TEST_LOG ?? 'silent',
    CORRAL_KEY_PREFIX: `t${randomUUID().slice(0, 8)}`,
    CORRAL_WORKER_SLOTS: '2',
    CORRAL_HEARTBEAT_MS: '200',
    CORRAL_CALLBACK_BACKOFF_MS: '50',
    CORRAL_CALLBACK_TIMEOUT_MS: '2000',
    // No warm kernel containers unless a test asks: they would be running containers of their own.
    CORRAL_SESSION_WARM_KERNELS: '0',
    ...opts.env,
  });
  const log = createLogger(config.logLevel, 'corral-test');
  const injected = opts.launcher && opts.registry
    ? { launcher: opts.launcher, registry: opts.registry, selfTest: opts.selfTest ?? (async () => {}) }
    : undefined;
  const stack = await composeStack({
    config, log, redis,
    worker: (opts.worker ?? !!opts.launcher) ? (injected ?? true) : false,
  });
  const startWorker = async () => {
    if (!injected) throw new Error('startWorker needs a launcher and a registry');
    return stack.addWorker(injected);
  };
  return {
    url: stack.url, dir, config, core: stack.core!, redis, server: stack.server!, worker: stack.workers[0], startWorker,
    async stop() {
      await stack.close(true);
      if (!opts.redis) await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function api(stack: { url: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(stack.url + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: any = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Polls GET /v1/runs/:id until the run is terminal (no time assertion: bounded only by the test runner). */
export async function until(stack: { url: string }, id: string, headers: Record<string, string> = {}): Promise<any> {
  for (;;) {
    const r = await api(stack, 'GET', `/v1/runs/${id}`, undefined, headers);
    if (r.status !== 200) throw new Error(`GET /v1/runs/${id}: ${r.status} ${JSON.stringify(r.body)}`);
    if (['completed', 'cancelled', 'failed'].includes(r.body.status)) return r.body;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Reads an SSE stream to its end; returns the events. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<Array<{ event: string; data: any; id: string }>> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`SSE ${url}: ${res.status}`);
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.includes('data:')).map((block) => {
    const get = (k: string) => block.split('\n').filter((l) => l.startsWith(`${k}:`)).map((l) => l.slice(k.length + 1).trimStart()).join('\n');
    return { event: get('event'), id: get('id'), data: JSON.parse(get('data')) };
  });
}

export async function waitFor<T>(f: () => Promise<T | undefined | null | false>, what: string, tries = 2000): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Pushes each JSON line `stream` writes onto `lines` (other lines are skipped), calling `onLine` after each. */
export function collectJsonLines(stream: NodeJS.ReadableStream, lines: any[], onLine: () => void = () => {}): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { lines.push(JSON.parse(line)); } catch { continue; /* not a log line */ }
      onLine();
    }
  });
}

/** `bin/corral up` as a child process, its JSON log lines collected as they arrive. */
export function spawnCorralUp(env: Record<string, string>): { child: ChildProcess; lines: any[]; exit: Promise<number | null> } {
  const corral = fileURLToPath(new URL('../../bin/corral', import.meta.url));
  const child = spawn(corral, ['up'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: any[] = [];
  collectJsonLines(child.stdout!, lines);
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exit };
}
