// npm run loadtest — the real service over HTTP on loopback with open-loop arrivals: requests are
// fired at a fixed rate whether or not earlier ones have finished, so queueing shows in the
// latency (a closed loop would hide it). In order:
//   1. the bare baseline: the python image's own interpreter started with no isolation
//      (bench/bare-python.ts, in a process of its own), for "python `pass` within 5 ms of the bare
//      interpreter start-up";
//   2. the sandbox-only series (bench/sandbox-series.ts, in a process of its own): busybox `echo`
//      through host.run, warm pool off and on, open loop, for the sandbox latency target;
//   3. for each configuration (warm pool off / on) a fresh stack (stack.ts: embedded Redis, API on
//      port 0, worker, in a process of its own) and for each workload (busybox echo, Bash echo,
//      python `pass`, C hello world) and each rate, POST /v1/runs?wait=true for a bounded time.
// This process talks to Corral over HTTP only: it imports nothing of the worker, the sandbox or
// the images (docs/architecture.md), and reads the two in-process measurements' results as JSON
// from their processes (bench-child.ts).
// Writes loadtest/results/<timestamp>.json and loadtest/results/latest.svg (full runs also
// docs/loadtest.json and docs/loadtest.svg) and prints the issue's targets as met / not met next
// to the figures. Not a test: it reports, it never fails on a number.
//
//   npm run loadtest [-- --quick] [-- --rates 1,10,50 --seconds 3 --workloads busybox,c --configs off,on]
//   LOADTEST_QUICK=1 npm run loadtest     (the same as --quick)
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ENV_SCHEMA, loadConfig } from '../services/core/config.ts';
import { runBenchScript } from './bench-child.ts';
import { httpClient, type HttpClient } from './http-client.ts';
import { startOpenLoop } from './open-loop.ts';
import { isSaturated, progressLine, type ConfigInfo, type Report, type StepResult } from './report.ts';
import { forkStack, type RunningStack } from './stack.ts';
import { summarize, type Sample } from './stats.ts';
import { renderSvg } from './svg.ts';
import { evaluateTargets, formatTargets } from './targets.ts';
import { classify, classifyFailure, SANDBOX_WORKLOAD, workloadName, WORKLOADS, type Classified, type Workload } from './workloads.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, 'results');
const DOCS = join(HERE, '..', 'docs');
const POOL_VAR = 'CORRAL_POOL_MAX_WARM';
const POOL_ON = 8;

const HELP = `Usage: npm run loadtest -- [options]        (LOADTEST_QUICK=1 in the environment = --quick)
  --quick              ~2 minutes: 1 s per rate (at least 3 requests), server wait limit 3 s
  --rates LIST         offered rates, runs/s (default 1,10,50,200,500; the last is beyond saturation
                       end to end; the sandbox-only series keeps doubling until it saturates, ≤ 5000/s)
  --seconds N          arrival window per rate (default 3)
  --min-requests N     requests per rate at least (default 5, 3 with --quick; at 1/s a step lasts N s)
  --workloads LIST     ${WORKLOADS.map((w) => w.key).join(',')} (default all)
  --configs LIST       off,on (default both: ${POOL_VAR}=0 and =${POOL_ON})
  --no-sandbox         skip the sandbox-only series (bench/sandbox-series.ts: host.run, busybox echo)
  --no-baseline        skip the bare python start-up baseline
  --all-rates          keep going after a workload saturated (default: after two saturated rates, at
                       and beyond saturation, the higher rates of that workload are skipped)
  --docs / --no-docs   copy the report to docs/loadtest.{json,svg} (default: full runs yes, --quick no)
  --render FILE.json   measure nothing: draw FILE.json's report again as FILE.svg`;

interface Options {
  rates: number[]; seconds: number; minRequests: number; maxWaitMs: number; quick: boolean;
  workloads: Workload[]; configs: Array<{ name: string; env: Record<string, string> }>;
  allRates: boolean; docs: boolean; budgetMs: number; sandbox: boolean; baseline: boolean; baselineRuns: number;
  render?: string;
}

function options(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false }, rates: { type: 'string' }, seconds: { type: 'string' }, 'min-requests': { type: 'string' },
      workloads: { type: 'string' }, configs: { type: 'string' }, 'all-rates': { type: 'boolean', default: false },
      docs: { type: 'boolean' }, 'no-docs': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      'no-sandbox': { type: 'boolean', default: false }, 'no-baseline': { type: 'boolean', default: false }, render: { type: 'string' },
    },
  });
  if (values.help) { console.log(HELP); return undefined; }
  const quick = values.quick! || /^(1|true|yes)$/i.test(process.env.LOADTEST_QUICK ?? '');
  const list = (s: string | undefined) => s?.split(',').map((v) => v.trim()).filter(Boolean);
  const rates = (list(values.rates) ?? ['1', '10', '50', '200', '500']).map(Number);
  if (rates.some((r) => !(r > 0 && r <= 5000))) throw new Error(`--rates: each rate must be in (0, 5000], got ${values.rates}`);
  const seconds = Number(values.seconds ?? (quick ? 1 : 3));
  if (!(seconds > 0 && seconds <= 120)) throw new Error(`--seconds must be in (0, 120], got ${values.seconds}`);
  const minRequests = Number(values['min-requests'] ?? (quick ? 3 : 5));
  if (!(Number.isInteger(minRequests) && minRequests >= 1 && minRequests <= 1000)) throw new Error(`--min-requests must be an integer in [1, 1000], got ${values['min-requests']}`);
  const wanted = list(values.workloads) ?? WORKLOADS.map((w) => w.key);
  const workloads = WORKLOADS.filter((w) => wanted.includes(w.key));
  if (!workloads.length) throw new Error(`--workloads: none of ${wanted.join(',')} (known: ${WORKLOADS.map((w) => w.key).join(',')})`);
  const configs = (list(values.configs) ?? ['off', 'on']).map((c) => {
    if (c === 'off') return { name: 'pool off', env: { [POOL_VAR]: '0' } };
    if (c === 'on') return { name: 'pool on', env: { [POOL_VAR]: String(POOL_ON) } };
    throw new Error(`--configs: off or on, got ${c}`);
  });
  const steps = configs.length * workloads.length * rates.length;
  const sandbox = !values['no-sandbox'];
  return {
    ...(values.render ? { render: values.render } : {}),
    sandbox, baseline: !values['no-baseline'], baselineRuns: quick ? 15 : 50,
    rates: [...rates].sort((a, b) => a - b), seconds, quick, workloads, configs,
    minRequests,
    maxWaitMs: quick ? 3_000 : 5_000,
    allRates: values['all-rates']!,
    docs: values['no-docs'] ? false : values.docs ?? !quick,
    // Whole-run budget: the windows plus a generous drain allowance per step and per stack start,
    // and the sandbox series (at most rates + 3 doublings per configuration, no drain).
    budgetMs: steps * (Math.max(seconds, minRequests / Math.min(...rates)) * 1000 + 25_000) + configs.length * 60_000
      + (sandbox ? configs.length * (rates.length + 3) * (Math.max(seconds, minRequests / Math.min(...rates)) * 1000 + 10_000) : 0) + 60_000,
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
  const saturated = isSaturated(summary, rate);
  const drained = await drain(client, runIds, 60_000);
  if (!drained) summary.reasons.queue_not_drained_after_60s = 1;
  return { layer: 'http', workload: w.name, config, offeredRatePerSecond: rate, seconds: windowMs / 1000, ...summary, saturated };
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

/** The final table: one line per measured step. */
function summaryTable(report: Report): string[] {
  const lines = [`${'series'.padEnd(40)} ${'rate/s'.padStart(6)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'runs/s'.padStart(7)} ${'err'.padStart(4)} ${'t/o'.padStart(4)}  dispatch p50/p99`];
  for (const s of report.steps) {
    if (s.skipped) continue;
    const l = s.latencyMs!;
    lines.push(`${`${s.workload} · ${s.config}`.padEnd(40)} ${String(s.offeredRatePerSecond).padStart(6)} ${ms(l.p50).padStart(7)} ${ms(l.p90).padStart(7)} ${ms(l.p99).padStart(7)} `
      + `${s.throughputPerSecond!.toFixed(1).padStart(7)} ${String(s.errors).padStart(4)} ${String(s.timeouts).padStart(4)}${s.dispatchMs ? `  ${ms(s.dispatchMs.p50)}/${ms(s.dispatchMs.p99)}` : ''}${s.saturated ? '  saturated' : ''}`);
  }
  return lines;
}

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  if (!o) return 0;
  if (o.render) {
    const svg = o.render.replace(/\.json$/, '') + '.svg';
    await writeFile(svg, renderSvg(JSON.parse(await readFile(o.render, 'utf8')) as Report));
    console.log(`loadtest: drew ${o.render} as ${svg}`);
    return 0;
  }
  await mkdir(RESULTS, { recursive: true });
  const startedAt = new Date();
  const loadStart = loadavg()[0]!;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const deadline = performance.now() + o.budgetMs;
  // Last resort: whatever hangs, the process ends (the stack child stops when its IPC channel closes).
  setTimeout(() => { console.error('loadtest: time budget exceeded by 2 minutes, exiting'); process.exit(3); }, o.budgetMs + 120_000).unref();

  const poolVariableKnown = POOL_VAR in ENV_SCHEMA.shape;
  const config = loadConfig({ ...process.env, [POOL_VAR]: String(POOL_ON) });
  const slots = config.worker.slots;
  const notes = [
    'Latency is measured from each request\'s scheduled time to the end of its answer (open loop, no coordinated omission); percentiles include timed-out requests at the time they were given up.',
    `A timeout is a 202 after the server's wait limit (CORRAL_MAX_WAIT_MS=${o.maxWaitMs}); runs left queued then are cancelled and the queue drained before the next step.`,
    'busybox echo is the bench-only language busybox-echo of bench/bench-stack.ts (echo hi in the busybox image); the stack is otherwise what corral up starts.',
    `The "${SANDBOX_WORKLOAD}" series is host.run in a process of its own (bench/sandbox-series.ts), at most ${slots} runs at once (the worker's slots, CORRAL_WORKER_SLOTS); its dispatchMs is from the host.run call to the outcome, its latencyMs from the scheduled arrival (the wait for a slot included).`,
    'The baseline is the python image\'s own interpreter started without isolation (bench/bare-python.ts, in a process of its own), measured in the same run.',
  ];
  if (!poolVariableKnown) notes.push(`${POOL_VAR} is not in services/core/config.ts yet: the stack was started with it anyway, but the worker may ignore it (then "pool on" = "pool off").`);
  console.log(`loadtest: rates ${o.rates.join(', ')}/s, ${o.seconds} s each, workloads ${o.workloads.map((w) => w.name).join(', ')}, configs ${o.configs.map((c) => c.name).join(', ')}`
    + `${o.sandbox ? ', sandbox-only series' : ''}${o.baseline ? ', bare python baseline' : ''}; budget ${Math.round(o.budgetMs / 1000)} s`);
  if (!poolVariableKnown) console.log(`loadtest: note: ${POOL_VAR} is not known to services/core/config.ts yet`);

  // 1. The bare interpreter start-up, while nothing else of this run is busy.
  let bare: Report['baseline'];
  if (o.baseline) {
    bare = await runBenchScript<NonNullable<Report['baseline']>>('bare-python.ts', ['--json', '--runs', String(o.baselineRuns)], 300_000)
      .catch((err: Error) => ({ workload: workloadName('python'), skipped: err.message }));
    if ('skipped' in bare) console.log(`loadtest: bare python baseline skipped: ${bare.skipped}`);
    else console.log(`loadtest: bare python start-up (${bare.runs} runs, no sandbox): p50 ${ms(bare.latencyMs.p50)} p90 ${ms(bare.latencyMs.p90)} p99 ${ms(bare.latencyMs.p99)} ms`);
  }

  const steps: StepResult[] = [];
  // 2. The sandbox alone.
  if (o.sandbox) {
    const args = ['--json', '--rates', o.rates.join(','), '--seconds', String(o.seconds), '--min-requests', String(o.minRequests),
      '--slots', String(slots), '--configs', o.configs.map((c) => (c.name === 'pool on' ? 'on' : 'off')).join(','),
      '--stop-after-saturated', o.allRates ? 'all' : '2', '--extend-beyond', '3', '--budget-ms', String(Math.max(0, Math.round(deadline - performance.now())))];
    try {
      steps.push(...await runBenchScript<StepResult[]>('sandbox-series.ts', args, Math.max(60_000, deadline - performance.now() + 120_000)));
    } catch (err) {
      console.log(`loadtest: sandbox series skipped: ${(err as Error).message}`);
    }
  }

  // 3. The whole service over HTTP, one fresh stack per configuration.
  const configs: ConfigInfo[] = [];
  for (const cfg of o.configs) {
    const env = { ...cfg.env, CORRAL_MAX_WAIT_MS: String(o.maxWaitMs), CORRAL_LOG_LEVEL: 'warn', CORRAL_SHUTDOWN_GRACE_MS: '2000' };
    const logFile = join(RESULTS, `${stamp}-${cfg.name.replace(/\W+/g, '-')}.log`);
    let stack: RunningStack | undefined;
    let client: HttpClient | undefined;
    try {
      stack = await forkStack(env, logFile);
      client = httpClient(stack.url, o.maxWaitMs + 10_000);
      console.log(`loadtest: ${cfg.name}: stack up at ${stack.url} (pid ${stack.pid}, ${stack.slots} worker slots)`);
      const languages = await client.request('GET', '/v1/languages');
      const available = new Set((languages.body as Array<{ id: string; available: boolean }>).filter((l) => l.available).map((l) => l.id));
      for (const w of o.workloads) {
        const saturatedAt: number[] = [];
        // Warm-up, not recorded: page cache, image layers, the pool's demand estimate.
        if (available.has(w.language)) for (let i = 0; i < 3; i++) await client.request('POST', '/v1/runs?wait=true', w.request).catch(() => {});
        for (const rate of o.rates) {
          const base = { layer: 'http' as const, workload: w.name, config: cfg.name, offeredRatePerSecond: rate, seconds: o.seconds };
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
    host: { cpus: availableParallelism(), kernel: release(), node: process.version, loadAverage: { start: loadStart, end: loadavg()[0]! } },
    options: { rates: o.rates, seconds: o.seconds, maxWaitMs: o.maxWaitMs, quick: o.quick },
    notes, configs, workloads: o.workloads.map((w) => ({ name: w.name, request: w.request })), steps,
    ...(bare ? { baseline: bare } : {}),
  };
  // "Cold path unchanged or better" compares with the last published report.
  const previous = await readFile(join(DOCS, 'loadtest.json'), 'utf8').then((t) => JSON.parse(t) as Report, () => undefined);
  report.targets = evaluateTargets(report, previous);
  console.log(`\nloadtest: summary (latency ms from the scheduled arrival; ${o.seconds} s per rate; host load average ${loadStart.toFixed(1)} at the start, ${report.host.loadAverage!.end.toFixed(1)} at the end with this test's own overload)\n${summaryTable(report).join('\n')}`);
  if (bare) console.log(`\nbare python start-up: ${'skipped' in bare ? bare.skipped : `p50 ${ms(bare.latencyMs.p50)} ms, p99 ${ms(bare.latencyMs.p99)} ms over ${bare.runs} runs — ${bare.describe}`}`);
  console.log(`\ntargets (issue 6; reported, never enforced):\n${formatTargets(report.targets).join('\n')}\n`);
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
