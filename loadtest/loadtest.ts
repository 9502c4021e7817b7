// npm run loadtest — the real service over HTTP on loopback with open-loop arrivals: requests are
// fired at a fixed rate whether or not earlier ones have finished, so queueing shows in the
// latency (a closed loop would hide it). For each configuration (warm pool off / on) a fresh
// stack is started (stack.ts: embedded Redis, API on port 0, worker); for each workload (Bash
// echo, python `pass`, C hello world) and each rate, POST /v1/runs?wait=true for a bounded time.
// Writes loadtest/results/<timestamp>.json and loadtest/results/latest.svg (full runs also
// docs/loadtest.json and docs/loadtest.svg). Not a test: it reports, it never fails on a number.
//
//   npm run loadtest [-- --quick] [-- --rates 1,10,50 --seconds 3 --workloads bash,c --configs off,on]
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ENV_SCHEMA } from '../services/core/config.ts';
import { httpClient, type HttpClient } from './http-client.ts';
import { startOpenLoop } from './open-loop.ts';
import type { ConfigInfo, Report, StepResult } from './report.ts';
import { startStack, type RunningStack } from './stack.ts';
import { summarize, type Sample } from './stats.ts';
import { renderSvg } from './svg.ts';
import { classify, classifyFailure, WORKLOADS, type Classified, type Workload } from './workloads.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, 'results');
const DOCS = join(HERE, '..', 'docs');
const POOL_VAR = 'CORRAL_POOL_MAX_WARM';

const HELP = `Usage: npm run loadtest -- [options]
  --quick              ~1 minute: 1 s per rate (at least 3 requests), server wait limit 3 s
  --rates LIST         offered rates, runs/s (default 1,10,50,200,500; the last is beyond saturation)
  --seconds N          arrival window per rate (default 3; a rate gets at least 5 requests)
  --workloads LIST     bash,python,c (default all)
  --configs LIST       off,on (default both: ${POOL_VAR}=0 and =8)
  --all-rates          keep going after a workload saturated (default: after two saturated rates, at
                       and beyond saturation, the higher rates of that workload are skipped)
  --docs / --no-docs   copy the report to docs/loadtest.{json,svg} (default: full runs yes, --quick no)`;

interface Options {
  rates: number[]; seconds: number; minRequests: number; maxWaitMs: number; quick: boolean;
  workloads: Workload[]; configs: Array<{ name: string; env: Record<string, string> }>;
  allRates: boolean; docs: boolean; budgetMs: number;
}

function options(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false }, rates: { type: 'string' }, seconds: { type: 'string' },
      workloads: { type: 'string' }, configs: { type: 'string' }, 'all-rates': { type: 'boolean', default: false },
      docs: { type: 'boolean' }, 'no-docs': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { console.log(HELP); return undefined; }
  const quick = values.quick!;
  const list = (s: string | undefined) => s?.split(',').map((v) => v.trim()).filter(Boolean);
  const rates = (list(values.rates) ?? ['1', '10', '50', '200', '500']).map(Number);
  if (rates.some((r) => !(r > 0 && r <= 5000))) throw new Error(`--rates: each rate must be in (0, 5000], got ${values.rates}`);
  const seconds = Number(values.seconds ?? (quick ? 1 : 3));
  if (!(seconds > 0 && seconds <= 120)) throw new Error(`--seconds must be in (0, 120], got ${values.seconds}`);
  const wanted = list(values.workloads) ?? WORKLOADS.map((w) => w.language);
  const workloads = WORKLOADS.filter((w) => wanted.includes(w.language));
  if (!workloads.length) throw new Error(`--workloads: none of ${wanted.join(',')} (known: ${WORKLOADS.map((w) => w.language).join(',')})`);
  const configs = (list(values.configs) ?? ['off', 'on']).map((c) => {
    if (c === 'off') return { name: 'pool off', env: { [POOL_VAR]: '0' } };
    if (c === 'on') return { name: 'pool on', env: { [POOL_VAR]: '8' } };
    throw new Error(`--configs: off or on, got ${c}`);
  });
  const steps = configs.length * workloads.length * rates.length;
  return {
    rates: [...rates].sort((a, b) => a - b), seconds, quick, workloads, configs,
    minRequests: quick ? 3 : 5,
    maxWaitMs: quick ? 3_000 : 5_000,
    allRates: values['all-rates']!,
    docs: values['no-docs'] ? false : values.docs ?? !quick,
    // Whole-run budget: the windows plus a generous drain allowance per step and per stack start.
    budgetMs: steps * (seconds * 1000 + 25_000) + configs.length * 60_000,
  };
}

/** Runs of this step still queued or running are cancelled, then the queue must be empty (bounded). */
async function drain(client: HttpClient, runIds: string[], maxMs: number): Promise<boolean> {
  const until = performance.now() + maxMs;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < runIds.length && performance.now() < until) {
      const id = runIds[next++]!;
      await client.request('DELETE', `/v1/runs/${id}`, undefined, 15_000).catch(() => {});
    }
  }));
  for (let i = 0; i < 10_000 && performance.now() < until; i++) {
    const m = await client.request('GET', '/metrics', undefined, 5_000).catch(() => undefined);
    if (m && typeof m.body === 'string') {
      let left = 0;
      for (const [, n] of m.body.matchAll(/^corral_queue_depth\{state="(?:wait|prioritized|delayed|active)"\} (\d+)/gm)) left += Number(n);
      if (left === 0) return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function runStep(client: HttpClient, w: Workload, config: string, rate: number, o: Options): Promise<StepResult> {
  const count = Math.max(o.minRequests, Math.round(rate * o.seconds));
  const runIds: string[] = [];
  const loop = startOpenLoop<Classified>({
    ratePerSecond: rate,
    count,
    maxInFlight: 5_000,
    fire: () => client.request('POST', '/v1/runs?wait=true', w.request, o.maxWaitMs + 10_000).then(classify, classifyFailure),
  });
  const fired = await loop.done;
  const t0 = fired[0]?.scheduledAt ?? 0;
  const samples: Sample[] = fired.map((f) => {
    const c = f.value ?? classifyFailure(f.error);
    if (c.runId) runIds.push(c.runId);
    return { outcome: c.outcome, ...(c.reason ? { reason: c.reason } : {}), latencyMs: f.settledAt! - f.scheduledAt, lagMs: f.firedAt - f.scheduledAt };
  });
  const lastOk = Math.max(t0, ...fired.filter((f) => f.value?.outcome === 'ok').map((f) => f.settledAt!));
  const windowMs = (count / rate) * 1000;
  const summary = summarize(samples, { dropped: loop.dropped(), okSpanMs: Math.max(windowMs, lastOk - t0) });
  const saturated = summary.throughputPerSecond < 0.9 * (count / (windowMs / 1000)) || summary.timeouts > 0
    || summary.errors > 0.05 * summary.sent || summary.dropped > 0;
  const drained = await drain(client, runIds, 60_000);
  if (!drained) summary.reasons.queue_not_drained_after_60s = 1;
  return { workload: w.name, config, offeredRatePerSecond: rate, seconds: windowMs / 1000, ...summary, saturated };
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v < 100 ? v.toFixed(1) : v.toFixed(0));

function progressLine(s: StepResult): string {
  const head = `[${s.workload} | ${s.config}] ${String(s.offeredRatePerSecond).padStart(4)}/s`;
  if (s.skipped) return `${head}: skipped (${s.skipped})`;
  const l = s.latencyMs!;
  const reasons = Object.entries(s.reasons ?? {}).map(([k, v]) => `${k}×${v}`).join(' ');
  return `${head} × ${s.seconds.toFixed(1)} s: ${s.sent} sent, ${s.ok} ok, ${s.throughputPerSecond!.toFixed(1)} runs/s; `
    + `p50 ${ms(l.p50)} p90 ${ms(l.p90)} p99 ${ms(l.p99)} ms; errors ${s.errors}, timeouts ${s.timeouts}`
    + `${s.dropped ? `, dropped ${s.dropped}` : ''}; send lag p99 ${ms(s.lagMs!.p99)} ms${s.saturated ? ' — saturated' : ''}${reasons ? ` (${reasons})` : ''}`;
}

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  if (!o) return 0;
  await mkdir(RESULTS, { recursive: true });
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const deadline = performance.now() + o.budgetMs;
  // Last resort: whatever hangs, the process ends (the stack child stops when its IPC channel closes).
  setTimeout(() => { console.error('loadtest: time budget exceeded by 2 minutes, exiting'); process.exit(3); }, o.budgetMs + 120_000).unref();

  const poolVariableKnown = POOL_VAR in ENV_SCHEMA.shape;
  const notes = [
    'Latency is measured from each request\'s scheduled time to the end of its answer (open loop, no coordinated omission); percentiles include timed-out requests at the time they were given up.',
    `A timeout is a 202 after the server's wait limit (CORRAL_MAX_WAIT_MS=${o.maxWaitMs}); runs left queued then are cancelled and the queue drained before the next step.`,
    'No language runs on the busybox image, so the echo workload is Bash echo (base image).',
  ];
  if (!poolVariableKnown) notes.push(`${POOL_VAR} is not in services/core/config.ts yet: the stack was started with it anyway, but the worker may ignore it (then "pool on" = "pool off").`);
  console.log(`loadtest: rates ${o.rates.join(', ')}/s, ${o.seconds} s each, workloads ${o.workloads.map((w) => w.name).join(', ')}, configs ${o.configs.map((c) => c.name).join(', ')}; budget ${Math.round(o.budgetMs / 1000)} s`);
  if (!poolVariableKnown) console.log(`loadtest: note: ${POOL_VAR} is not known to services/core/config.ts yet`);

  const steps: StepResult[] = [];
  const configs: ConfigInfo[] = [];
  for (const cfg of o.configs) {
    const env = { ...cfg.env, CORRAL_MAX_WAIT_MS: String(o.maxWaitMs), CORRAL_LOG_LEVEL: 'warn', CORRAL_SHUTDOWN_GRACE_MS: '2000' };
    const logFile = join(RESULTS, `${stamp}-${cfg.name.replace(/\W+/g, '-')}.log`);
    let stack: RunningStack | undefined;
    let client: HttpClient | undefined;
    try {
      stack = await startStack(env, logFile);
      client = httpClient(stack.url, o.maxWaitMs + 10_000);
      console.log(`loadtest: ${cfg.name}: stack up at ${stack.url} (pid ${stack.pid}, ${stack.slots} worker slots)`);
      const languages = await client.request('GET', '/v1/languages');
      const available = new Set((languages.body as Array<{ id: string; available: boolean }>).filter((l) => l.available).map((l) => l.id));
      for (const w of o.workloads) {
        const saturatedAt: number[] = [];
        // Warm-up, not recorded: page cache, image layers, the pool's demand estimate.
        if (available.has(w.language)) for (let i = 0; i < 3; i++) await client.request('POST', '/v1/runs?wait=true', w.request).catch(() => {});
        for (const rate of o.rates) {
          const base = { workload: w.name, config: cfg.name, offeredRatePerSecond: rate, seconds: o.seconds };
          let step: StepResult;
          if (!available.has(w.language)) step = { ...base, skipped: `language ${w.language} not available (image not built)` };
          else if (performance.now() > deadline) step = { ...base, skipped: 'time budget of the run used up' };
          else if (saturatedAt.length >= 2 && !o.allRates) step = { ...base, skipped: `saturated already at ${saturatedAt.join(' and ')}/s` };
          else step = await runStep(client, w, cfg.name, rate, o);
          if (step.saturated) saturatedAt.push(rate);
          steps.push(step);
          console.log(progressLine(step));
        }
      }
      const metrics = await client.request('GET', '/metrics').catch(() => undefined);
      const poolMetrics = typeof metrics?.body === 'string' ? metrics.body.split('\n').filter((l) => /pool|warm/i.test(l) && !l.startsWith('#')) : [];
      configs.push({ name: cfg.name, env: cfg.env, poolVariableKnown, poolMetrics });
      if (!poolMetrics.length) console.log(`loadtest: ${cfg.name}: /metrics has no pool metrics`);
    } finally {
      client?.close();
      await stack?.stop();
    }
  }

  const report: Report = {
    title: 'Corral load test: latency against offered request rate',
    startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(),
    host: { cpus: availableParallelism(), kernel: release(), node: process.version },
    options: { rates: o.rates, seconds: o.seconds, maxWaitMs: o.maxWaitMs, quick: o.quick },
    notes, configs, workloads: o.workloads.map((w) => ({ name: w.name, request: w.request })), steps,
  };
  const jsonFile = join(RESULTS, `${stamp}.json`);
  const svgFile = join(RESULTS, 'latest.svg');
  await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(svgFile, renderSvg(report));
  console.log(`loadtest: wrote ${jsonFile} and ${svgFile}`);
  if (o.docs) {
    await copyFile(jsonFile, join(DOCS, 'loadtest.json'));
    await copyFile(svgFile, join(DOCS, 'loadtest.svg'));
    console.log('loadtest: copied to docs/loadtest.json and docs/loadtest.svg');
  }
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`loadtest: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
