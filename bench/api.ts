// npm run bench:api — trivial runs through the whole stack (HTTP → validation → Redis/BullMQ →
// worker → pipeline → real sandbox → result) with ?wait=true, at concurrency 1 and at a saturating
// concurrency, and the same program through host.run directly in the same process and run, so
// the API + queue overhead shows as a ratio. Not a test: it prints, it never fails on a number.
//
// Workloads: busybox `echo` (the bench-only language of bench-stack.ts) and `python3 -c pass`
// (the python language's image, when built), with the bare start-up of the image's own python
// (bare-python.ts, no sandbox) as the floor. The stack is bench-stack.ts's, in this process
// (the warm pool is on by default, for the direct runs too; CORRAL_POOL_MAX_WARM=0 turns it off).
// Env: BENCH_N (runs per measurement, default 300),
// BENCH_SATURATE (concurrency, default 16), CORRAL_WORKER_SLOTS (default: CPU count),
// CORRAL_IMAGES_DIR.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxHost } from '../worker/sandbox/index.ts';
import { bareCommandFor, measureBare, type BareResult } from './bare-python.ts';
import { BUSYBOX_ECHO, startBenchStack, type BenchStack } from './bench-stack.ts';
import { httpClient } from '../loadtest/http-client.ts';

const N = Number(process.env.BENCH_N ?? 300);
const SATURATE = Number(process.env.BENCH_SATURATE ?? 16);

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

/** The python image's own interpreter started with no isolation (bare-python.ts), `n` runs. */
async function barePython(layers: string[], run: string[], fileName: string, env: Record<string, string>, n: number): Promise<BareResult> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-bench-bare-'));
  try {
    await writeFile(join(dir, fileName), 'pass\n');
    return await measureBare(await bareCommandFor(layers, run.map((a) => (a === fileName ? join(dir, fileName) : a)), env), n);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const stack = await startBenchStack({ env: { CORRAL_LOG_LEVEL: 'silent', CORRAL_QUEUE_MAX_DEPTH: '100000' } });
  try {
    await bench(stack);
  } finally {
    await stack.close();
  }
}

async function bench(stack: BenchStack) {
  const { config, registry, busybox } = stack;
  if (!busybox) throw new Error('the busybox image is not built (./bin/corral images build busybox)');
  const languages = new Set((await registry.list()).filter((l) => l.available).map((l) => l.id));

  // The load generator's keep-alive node:http client: it shares this process (and the 2 cores)
  // with the service, and fetch (undici) costs ~0.5 ms of CPU more per request here.
  const client = httpClient(stack.url, 60_000);
  const viaApi = (body: object) => async () => {
    const res = await client.request('POST', '/v1/runs?wait=true', body);
    const r = res.body as { status: string; verdict: string };
    return res.status === 200 && r.status === 'completed' && r.verdict === 'accepted';
  };
  // Its own host with a warm pool, beside the worker's (names never collide between hosts).
  const directHost = SandboxHost.open({ pool: true, volumes: true });
  const direct = (layers: string[], argv: string[], env: Record<string, string>) => async () => {
    const r = await directHost.run({ layers, argv, env });
    return r.status === 'ok' && r.exitCode === 0;
  };

  const rows: Row[] = [];
  const workloads: Array<{ name: string; body: object; layers: string[]; argv: string[]; env: Record<string, string> }> = [
    { name: 'busybox echo', body: { language: BUSYBOX_ECHO.id, source: '' }, layers: busybox, argv: [...BUSYBOX_ECHO.argv], env: { PATH: '/bin' } },
  ];
  let bare: BareResult | undefined;
  if (languages.has('python')) {
    const py = await registry.resolve('python', { flags: [], args: [] });
    workloads.push({ name: 'python3 -c pass', body: { language: 'python', source: 'pass' }, layers: py.layers, argv: ['python3', '-c', 'pass'], env: py.env });
    bare = await barePython(py.layers, py.run, py.fileName, py.env, Math.min(N, 100)).catch((err: Error) => {
      console.log(`# bare python baseline skipped: ${err.message}`);
      return undefined;
    });
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
  if (bare) {
    const viaApi = rows.find((r) => r.label === 'python3 -c pass via API' && r.concurrency === 1);
    const direct = rows.find((r) => r.label === 'python3 -c pass runInSandbox' && r.concurrency === 1);
    console.log(`\nbare python start-up (the image's interpreter, no sandbox; ${bare.runs} runs): p50 ${bare.latencyMs.p50!.toFixed(1)} ms, p90 ${bare.latencyMs.p90!.toFixed(1)} ms`);
    if (viaApi && direct) console.log(`  python pass at concurrency 1 over it: via API +${(viaApi.p50 - bare.latencyMs.p50!).toFixed(1)} ms, runInSandbox +${(direct.p50 - bare.latencyMs.p50!).toFixed(1)} ms (p50)`);
  }
  console.log('\ntargets (issue 4, 2-core machine): busybox echo p50 ≤ 15 ms at concurrency 1, ≥ 200 runs/s at saturation, 0 errors');
  console.log('targets (issue 6; open-loop figures: npm run loadtest): busybox echo p50 ≤ 8 ms at 1/s and 50/s, ≥ 400 runs/s at saturation; python pass within 5 ms of the bare start-up');
  client.close();
  await directHost.close();
}

main().catch((err) => {
  console.error(`bench:api: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
