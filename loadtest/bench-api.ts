// npm run bench:api — trivial runs through the whole stack (HTTP → validation → Redis/BullMQ →
// worker → pipeline → real sandbox → result) with ?wait=true, at concurrency 1 and at a saturating
// concurrency, and the same program through runInSandbox directly in the same process and run, so
// the API + queue overhead shows as a ratio. Not a test: it prints, it never fails on a number.
//
// Workloads: busybox `echo` (a bench-only language over the busybox image) and `python3 -c pass`
// (the python language's image, when built). Env: BENCH_N (runs per measurement, default 300),
// BENCH_SATURATE (concurrency, default 16), CORRAL_WORKER_SLOTS (default: CPU count),
// CORRAL_IMAGES_DIR.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../services/core/config.ts';
import { createCoreContext } from '../services/core/context.ts';
import { createLogger } from '../services/core/logger.ts';
import { EmbeddedRedis } from '../services/core/redis.ts';
import { startApi } from '../services/api/start-api.ts';
import { ImageStore } from '../worker/images/store.ts';
import { imagesRegistry, type LanguageRegistry } from '../worker/language-registry.ts';
import { sandboxLauncher } from '../worker/launcher.ts';
import { runInSandbox } from '../worker/sandbox/index.ts';
import { startWorkerHost } from '../worker/worker-host.ts';

const N = Number(process.env.BENCH_N ?? 300);
const SATURATE = Number(process.env.BENCH_SATURATE ?? 16);
const IMAGES_DIR = process.env.CORRAL_IMAGES_DIR || '/var/lib/corral/images';

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

interface Row { label: string; concurrency: number; p50: number; p90: number; p99: number; runsPerSecond: number; errors: number }

async function measure(label: string, once: () => Promise<boolean>, n: number, concurrency: number): Promise<Row> {
  for (let i = 0; i < Math.min(10, n); i++) await once(); // warm-up
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < n) {
      const t = performance.now();
      const ok = await once().catch(() => false);
      latencies.push(performance.now() - t);
      if (!ok) errors++;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return { label, concurrency, ...stats(latencies), runsPerSecond: n / seconds, errors };
}

/** The images registry plus `busybox-echo`: `echo hi` in the busybox image (bench only). */
async function benchRegistry(): Promise<{ registry: LanguageRegistry; busybox: string[] }> {
  const base = await imagesRegistry(IMAGES_DIR);
  const busybox = (await new ImageStore(IMAGES_DIR).resolve('busybox')).layerDirs;
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp' };
  return {
    busybox,
    registry: {
      async list() {
        return [...await base.list(), { id: 'busybox-echo', name: 'busybox echo (bench)', version: '1', compiled: false, fileName: 'main.txt', available: true }];
      },
      async resolve(id, values) {
        if (id === 'busybox-echo') return { id, fileName: 'main.txt', layers: busybox, env, run: ['echo', 'hi'] };
        return base.resolve(id, values);
      },
    },
  };
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'corral-bench-'));
  const redis = new EmbeddedRedis({ dir: join(dir, 'redis') });
  await redis.start();
  const config = loadConfig({
    ...process.env,
    REDIS_URL: redis.url, CORRAL_PORT: '0', CORRAL_LOG_LEVEL: 'silent', CORRAL_KEY_PREFIX: `bench${randomUUID().slice(0, 6)}`,
    CORRAL_QUEUE_MAX_DEPTH: '100000',
  });
  const log = createLogger('silent');
  const { registry, busybox } = await benchRegistry();
  const core = await createCoreContext(config, redis.url, log);
  const launcher = sandboxLauncher();
  const worker = await startWorkerHost({ config, redisUrl: redis.url, log, launcher, registry, selfTest: async () => {} });
  const server = await startApi(core, log);
  const languages = new Set((await registry.list()).filter((l) => l.available).map((l) => l.id));

  const viaApi = (body: object) => async () => {
    const res = await fetch(`${server.url}/v1/runs?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const r = await res.json() as { status: string; verdict: string };
    return res.status === 200 && r.status === 'completed' && r.verdict === 'accepted';
  };
  const direct = (layers: string[], argv: string[], env: Record<string, string>) => async () => {
    const r = await runInSandbox({ layers, argv, env });
    return r.status === 'ok' && r.exitCode === 0;
  };

  const rows: Row[] = [];
  const workloads: Array<{ name: string; body: object; layers: string[]; argv: string[]; env: Record<string, string> }> = [
    { name: 'busybox echo', body: { language: 'busybox-echo', source: '' }, layers: busybox, argv: ['echo', 'hi'], env: { PATH: '/bin' } },
  ];
  if (languages.has('python')) {
    const py = await registry.resolve('python', { flags: [], args: [] });
    workloads.push({ name: 'python3 -c pass', body: { language: 'python', source: 'pass' }, layers: py.layers, argv: ['python3', '-c', 'pass'], env: py.env });
  } else {
    console.log('# python image not built: python workload skipped');
  }
  for (const w of workloads) {
    for (const c of [1, SATURATE]) {
      rows.push(await measure(`${w.name} via API`, viaApi(w.body), N, c));
      rows.push(await measure(`${w.name} runInSandbox`, direct(w.layers, w.argv, w.env), N, c));
    }
  }

  console.log(`\nCorral API benchmark: ${N} runs per row, worker slots ${config.worker.slots}, ?wait=true\n`);
  console.log('workload                          conc   p50 ms   p90 ms   p99 ms   runs/s  errors');
  for (const r of rows) {
    console.log(`${r.label.padEnd(32)} ${String(r.concurrency).padStart(5)} ${r.p50.toFixed(1).padStart(8)} ${r.p90.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.runsPerSecond.toFixed(0).padStart(8)} ${String(r.errors).padStart(7)}`);
  }
  console.log('\noverhead (API ÷ direct):');
  for (let i = 0; i < rows.length; i += 2) {
    const a = rows[i]!;
    const d = rows[i + 1]!;
    console.log(`  ${a.label.replace(' via API', '').padEnd(20)} conc ${String(a.concurrency).padStart(3)}: p50 ×${(a.p50 / d.p50).toFixed(2)}, throughput ×${(a.runsPerSecond / d.runsPerSecond).toFixed(2)}`);
  }
  console.log('\ntargets (issue 4, 2-core machine): busybox echo p50 ≤ 15 ms at concurrency 1, ≥ 200 runs/s at saturation, 0 errors');

  await server.close();
  await worker.close();
  await core.close();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(`bench:api: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
