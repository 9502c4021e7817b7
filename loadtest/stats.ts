// Percentiles (nearest rank) and the per-step summary of an open-loop run.

/** Nearest-rank percentile of `q` in [0, 1]; null for no samples. `sorted` must be ascending. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Percentiles { p50: number | null; p90: number | null; p99: number | null; max: number | null }

export function percentiles(samples: readonly number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p90: percentile(s, 0.9), p99: percentile(s, 0.99), max: s.at(-1) ?? null };
}

/** How one request ended. */
export type Outcome = 'ok' | 'timeout' | 'error';

export interface Sample {
  outcome: Outcome;
  /** From the scheduled time to the end of the response, ms. */
  latencyMs: number;
  /** The reason of an error or timeout, e.g. `http_503`, `verdict_runtime_error`, `wait_202`. */
  reason?: string;
  /** Fired time minus scheduled time, ms (the load generator's own lag). */
  lagMs: number;
}

export interface StepSummary {
  sent: number;
  ok: number;
  errors: number;
  timeouts: number;
  dropped: number;
  /** Successful runs per second, from the first arrival to the last successful answer. */
  throughputPerSecond: number;
  /** Latency over successful and timed-out requests (a timeout counts with the time it was given up). */
  latencyMs: Percentiles;
  lagMs: Percentiles;
  reasons: Record<string, number>;
}

export function summarize(samples: readonly Sample[], opts: { dropped?: number; okSpanMs: number }): StepSummary {
  const ok = samples.filter((s) => s.outcome === 'ok').length;
  const timeouts = samples.filter((s) => s.outcome === 'timeout').length;
  const reasons: Record<string, number> = {};
  for (const s of samples) if (s.reason) reasons[s.reason] = (reasons[s.reason] ?? 0) + 1;
  return {
    sent: samples.length,
    ok,
    errors: samples.length - ok - timeouts,
    timeouts,
    dropped: opts.dropped ?? 0,
    throughputPerSecond: opts.okSpanMs > 0 ? ok / (opts.okSpanMs / 1000) : 0,
    latencyMs: percentiles(samples.filter((s) => s.outcome !== 'error').map((s) => s.latencyMs)),
    lagMs: percentiles(samples.map((s) => s.lagMs)),
    reasons,
  };
}
