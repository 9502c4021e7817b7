// The load-test report: what loadtest.ts writes as JSON and svg.ts draws.
import type { Percentiles, StepSummary } from './stats.ts';
import type { TargetResult } from './targets.ts';

export interface StepResult extends Partial<StepSummary> {
  /** `http`: POST /v1/runs?wait=true through the whole stack (the default); `sandbox`: host.run only (bench/sandbox-series.ts). */
  layer?: 'http' | 'sandbox';
  workload: string;
  /** `pool off` / `pool on`. */
  config: string;
  offeredRatePerSecond: number;
  seconds: number;
  /** Set when the step was not run, with why. */
  skipped?: string;
  /** Achieved < 90 % of offered, or any timeout, or > 5 % errors, or any dropped. */
  saturated?: boolean;
  /** Sandbox steps: from the host.run call to its outcome (no wait for a slot), successful runs. */
  dispatchMs?: Percentiles;
}

/** The bare interpreter start-up (bench/bare-python.ts). */
export interface BareResult { describe: string; argv: string[]; runs: number; latencyMs: Percentiles; meanMs: number }

export interface ConfigInfo {
  name: string;
  env: Record<string, string>;
  /** Whether services/core/config.ts knows CORRAL_POOL_MAX_WARM at run time. */
  poolVariableKnown: boolean;
  /** `corral_*pool*` lines of /metrics at the end of the configuration (empty: none exported). */
  poolMetrics: string[];
}

export interface Report {
  title: string;
  startedAt: string;
  finishedAt: string;
  /** loadAverage: the host's 1-minute load average at the start (others' load: the machine may be shared) and at the end (the test's own overload steps included). */
  host: { cpus: number; kernel: string; node: string; loadAverage?: { start: number; end: number } };
  options: { rates: number[]; seconds: number; maxWaitMs: number; quick: boolean };
  notes: string[];
  configs: ConfigInfo[];
  workloads: Array<{ name: string; request: object }>;
  steps: StepResult[];
  /** The bare interpreter start-up measured in the same run (bench/bare-python.ts, in a process of its own), when the python image is built. */
  baseline?: (BareResult & { workload: string }) | { workload: string; skipped: string };
  /** The issue's targets against this run's figures (never a failure). */
  targets?: TargetResult[];
}

/** Whether a step ran at or beyond what the system can take (see StepResult.saturated). */
export function isSaturated(s: StepSummary, offeredPerSecond: number): boolean {
  return s.throughputPerSecond < 0.9 * offeredPerSecond || s.timeouts > 0 || s.errors > 0.05 * s.sent || s.dropped > 0;
}

/** Highest achieved throughput per workload × configuration. */
export function saturationThroughput(steps: readonly StepResult[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of steps) {
    if (s.skipped || s.throughputPerSecond === undefined) continue;
    const k = seriesKey(s);
    out.set(k, Math.max(out.get(k) ?? 0, s.throughputPerSecond));
  }
  return out;
}

export const seriesKey = (s: { workload: string; config: string }) => `${s.workload} · ${s.config}`;

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

/** A step as the load test and the sandbox series print it, one line. */
export function progressLine(s: StepResult): string {
  const head = `[${s.workload} | ${s.config}] ${String(s.offeredRatePerSecond).padStart(4)}/s`;
  if (s.skipped) return `${head}: skipped (${s.skipped})`;
  const l = s.latencyMs!;
  const reasons = Object.entries(s.reasons ?? {}).map(([k, v]) => `${k}×${v}`).join(' ');
  return `${head} × ${s.seconds.toFixed(1)} s: ${s.sent} sent, ${s.ok} ok, ${s.throughputPerSecond!.toFixed(1)} runs/s; `
    + `p50 ${ms(l.p50)} p90 ${ms(l.p90)} p99 ${ms(l.p99)} ms; errors ${s.errors}, timeouts ${s.timeouts}`
    + `${s.dropped ? `, dropped ${s.dropped}` : ''}${s.dispatchMs ? `; dispatch→outcome p50 ${ms(s.dispatchMs.p50)} p99 ${ms(s.dispatchMs.p99)} ms` : ''}`
    + `; send lag p99 ${ms(s.lagMs!.p99)} ms${s.saturated ? ' — saturated' : ''}${reasons ? ` (${reasons})` : ''}`;
}
