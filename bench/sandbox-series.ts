// The sandbox-only series of the load test: a trivial run (busybox `echo hi`) through host.run
// in this process, with open-loop arrivals, warm pool off and on — the first
// target ("sandbox latency for a trivial run, dispatch → outcome") without HTTP, Redis or the
// worker's queue. As in a worker, at most `slots` runs are in the sandbox at once (the worker's
// CORRAL_WORKER_SLOTS, default the CPU count); later arrivals wait for a slot.
//
// Two latencies per step: `latencyMs` from each arrival's scheduled time to its outcome (the
// wait for a slot included: this is what the plot shows and where saturation appears), and
// `dispatchMs` from the host.run call to its outcome (what the target is about).
//
// `npm run loadtest` runs it in a process of its own (loadtest/bench-child.ts); by hand:
//   npm run bench:series -- --rates 10,100 --seconds 2 [--configs off,on] [--json]
// prints a line per step, and with --json the steps as one JSON line at the end.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { loadConfig } from '../services/core/config.ts';
import { ImageStore } from '../rootfs-images/store.ts';
import { SandboxHost, type SandboxSpec } from '../worker/sandbox/index.ts';
import { startOpenLoop } from '../loadtest/open-loop.ts';
import { isSaturated, progressLine, type StepResult } from '../loadtest/report.ts';
import { percentiles, summarize, type Sample } from '../loadtest/stats.ts';
import { SANDBOX_WORKLOAD } from '../loadtest/workloads.ts';

export interface SandboxSeriesOptions {
  layers: string[];
  configs: Array<{ name: string; pool: { maxWarm: number; maxPerImage: number } | undefined }>;
  rates: number[];
  seconds: number;
  minRequests: number;
  slots: number;
  /** After this many saturated rates the higher ones are skipped. */
  stopAfterSaturated: number;
  /** Doublings of the highest rate while the series has not saturated (to get beyond it). */
  extendBeyond: number;
  /** Time left for the series, ms: later steps are skipped once it is used up. */
  deadline: number;
  onStep(step: StepResult): void;
}

interface Ran { ok: boolean; reason?: string; dispatchMs: number }

async function step(host: SandboxHost, spec: SandboxSpec, config: string, rate: number, o: SandboxSeriesOptions): Promise<StepResult> {
  const count = Math.max(o.minRequests, Math.round(rate * o.seconds));
  const limit = pLimit(o.slots);
  const loop = startOpenLoop<Ran>({
    ratePerSecond: rate,
    count,
    fire: () => limit(async () => {
      const t = performance.now();
      const r = await host.run(spec);
      const dispatchMs = performance.now() - t;
      if (r.status === 'ok' && r.exitCode === 0 && r.stdout.toString() === 'hi\n') return { ok: true, dispatchMs };
      return { ok: false, reason: `run_${r.status}`, dispatchMs };
    }),
  });
  const fired = await loop.done;
  const samples: Sample[] = fired.map((f) => {
    const reason = f.value ? f.value.reason : 'exception';
    return { outcome: f.value?.ok ? 'ok' : 'error', ...(reason ? { reason } : {}), latencyMs: f.settledAt! - f.scheduledAt, lagMs: f.firedAt - f.scheduledAt };
  });
  const t0 = fired[0]?.scheduledAt ?? 0;
  const lastOk = Math.max(t0, ...fired.filter((f) => f.value?.ok).map((f) => f.settledAt!));
  const windowMs = (count / rate) * 1000;
  const summary = summarize(samples, { okSpanMs: Math.max(windowMs, lastOk - t0) });
  return {
    layer: 'sandbox', workload: SANDBOX_WORKLOAD, config, offeredRatePerSecond: rate, seconds: windowMs / 1000, ...summary,
    dispatchMs: percentiles(fired.filter((f) => f.value?.ok).map((f) => f.value!.dispatchMs)),
    saturated: isSaturated(summary, rate),
  };
}

export async function runSandboxSeries(o: SandboxSeriesOptions): Promise<StepResult[]> {
  const spec: SandboxSpec = { layers: o.layers, argv: ['echo', 'hi'], env: { PATH: '/bin' } };
  const steps: StepResult[] = [];
  for (const cfg of o.configs) {
    const host = SandboxHost.open(cfg.pool ? { pool: cfg.pool } : {});
    try {
      // Warm-up, not recorded: page cache, and the pool's demand estimate (then time to build).
      for (let i = 0; i < 5; i++) await host.run(spec);
      await new Promise((r) => setTimeout(r, 300));
      const saturatedAt: number[] = [];
      const rates = [...o.rates];
      for (let i = 0; i < rates.length; i++) {
        const rate = rates[i]!;
        const base = { layer: 'sandbox' as const, workload: SANDBOX_WORKLOAD, config: cfg.name, offeredRatePerSecond: rate, seconds: o.seconds };
        let s: StepResult;
        if (performance.now() > o.deadline) s = { ...base, skipped: 'time budget of the run used up' };
        else if (saturatedAt.length >= o.stopAfterSaturated) s = { ...base, skipped: `saturated already at ${saturatedAt.join(' and ')}/s` };
        else s = await step(host, spec, cfg.name, rate, o);
        if (s.saturated) saturatedAt.push(rate);
        steps.push(s);
        o.onStep(s);
        // Beyond the listed rates while nothing saturated yet: keep doubling (bounded).
        if (i === rates.length - 1 && !saturatedAt.length && !s.skipped && rates.length < o.rates.length + o.extendBeyond && rate * 2 <= 5000) rates.push(rate * 2);
      }
    } finally {
      await host.close();
    }
  }
  return steps;
}

/** The warm pool's size in the "pool on" configuration (the load test's CORRAL_POOL_MAX_WARM). */
const POOL_ON = 8;

/** Command line → the series' options; the result is printed (one JSON line with --json). */
async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string', default: '1,10,50,200,500' }, seconds: { type: 'string', default: '3' },
      'min-requests': { type: 'string', default: '5' }, configs: { type: 'string', default: 'off,on' },
      slots: { type: 'string' }, 'stop-after-saturated': { type: 'string', default: '2' },
      'extend-beyond': { type: 'string', default: '3' }, 'budget-ms': { type: 'string' }, json: { type: 'boolean', default: false },
    },
  });
  const config = loadConfig(process.env);
  const layers = await new ImageStore(config.imagesDir).resolve('busybox').then((i) => i.layerDirs, () => undefined);
  if (!layers) throw new Error('the busybox image is not built (./bin/corral images build busybox)');
  const say = (line: string) => (values.json ? console.error(line) : console.log(line));
  const steps = await runSandboxSeries({
    layers,
    rates: values.rates!.split(',').map(Number).sort((a, b) => a - b),
    seconds: Number(values.seconds),
    minRequests: Number(values['min-requests']),
    slots: Number(values.slots ?? config.worker.slots),
    configs: values.configs!.split(',').map((c) => c === 'on'
      ? { name: 'pool on', pool: { maxWarm: POOL_ON, maxPerImage: config.worker.pool.maxPerImage } }
      : { name: 'pool off', pool: undefined }),
    stopAfterSaturated: values['stop-after-saturated'] === 'all' ? Infinity : Number(values['stop-after-saturated']),
    extendBeyond: Number(values['extend-beyond']),
    deadline: performance.now() + Number(values['budget-ms'] ?? 3_600_000),
    onStep: (s) => say(progressLine(s)),
  });
  if (values.json) console.log(JSON.stringify(steps));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`sandbox series: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
