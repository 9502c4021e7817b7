// The load-test report: what loadtest.ts writes as JSON and svg.ts draws.
import type { StepSummary } from './stats.ts';

export interface StepResult extends Partial<StepSummary> {
  workload: string;
  /** `pool off` / `pool on`. */
  config: string;
  offeredRatePerSecond: number;
  seconds: number;
  /** Set when the step was not run, with why. */
  skipped?: string;
  /** Achieved < 90 % of offered, or any timeout, or > 5 % errors. */
  saturated?: boolean;
}

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
  host: { cpus: number; kernel: string; node: string };
  options: { rates: number[]; seconds: number; maxWaitMs: number; quick: boolean };
  notes: string[];
  configs: ConfigInfo[];
  workloads: Array<{ name: string; request: object }>;
  steps: StepResult[];
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
