// The issue's targets (issue 6, 2-core development machine, cgroup v1) set against one run's
// figures. Reported as met / not met / n/a next to the numbers; a benchmark never fails on them.
import type { Report, StepResult } from './report.ts';
import { SANDBOX_WORKLOAD, workloadName } from './workloads.ts';

export interface TargetResult {
  target: string;
  /** A few words for the picture's caption. */
  short: string;
  /** Which series the figures are from, e.g. `pool on`. */
  scope: string;
  measured: string;
  /** null: not measured in this run (or nothing to compare with). */
  met: boolean | null;
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v < 100 ? v.toFixed(2) : v.toFixed(0));
const measured = (s: StepResult) => !s.skipped && s.latencyMs !== undefined;

/** Measured steps of one series up to and including its first saturated one, by rate. */
function upToSaturation(steps: readonly StepResult[]): StepResult[] {
  const out: StepResult[] = [];
  for (const s of [...steps].filter(measured).sort((a, b) => a.offeredRatePerSecond - b.offeredRatePerSecond)) {
    out.push(s);
    if (s.saturated) break;
  }
  return out;
}

const configsOf = (steps: readonly StepResult[]) => [...new Set(steps.map((s) => s.config))];

/** The targets, one row per target and configuration. `previous`: the last published report, for "unchanged or better". */
export function evaluateTargets(report: Pick<Report, 'steps' | 'baseline'>, previous?: Pick<Report, 'steps'>): TargetResult[] {
  const rows: TargetResult[] = [];
  const sandbox = report.steps.filter((s) => s.layer === 'sandbox');
  const http = report.steps.filter((s) => s.layer !== 'sandbox');

  for (const config of configsOf(sandbox)) {
    const series = upToSaturation(sandbox.filter((s) => s.config === config && s.dispatchMs));
    const worst = (k: 'p50' | 'p99') => series.reduce<StepResult | undefined>((w, s) => ((s.dispatchMs![k] ?? 0) > (w?.dispatchMs![k] ?? -1) ? s : w), undefined);
    const w50 = worst('p50');
    const w99 = worst('p99');
    rows.push({
      target: 'sandbox, trivial run, dispatch → outcome: p50 ≤ 2 ms and p99 ≤ 5 ms at every rate from 1/s to saturation',
      short: 'sandbox dispatch p50 ≤ 2 ms, p99 ≤ 5 ms',
      scope: `${SANDBOX_WORKLOAD} · ${config}`,
      measured: series.length
        ? `worst p50 ${ms(w50!.dispatchMs!.p50)} ms (at ${w50!.offeredRatePerSecond}/s), worst p99 ${ms(w99!.dispatchMs!.p99)} ms (at ${w99!.offeredRatePerSecond}/s) over ${series.map((s) => s.offeredRatePerSecond).join(', ')}/s`
        : 'not measured',
      met: series.length ? series.every((s) => (s.dispatchMs!.p50 ?? Infinity) <= 2 && (s.dispatchMs!.p99 ?? Infinity) <= 5) : null,
    });
  }

  const cold = upToSaturation(sandbox.filter((s) => s.config === 'pool off' && s.dispatchMs));
  if (cold.length) {
    const before = previous?.steps.filter((s) => s.layer === 'sandbox' && s.config === 'pool off' && measured(s) && s.dispatchMs) ?? [];
    const pairs = cold.flatMap((s) => {
      const p = before.find((b) => b.offeredRatePerSecond === s.offeredRatePerSecond && !b.saturated);
      return p && !s.saturated ? [{ rate: s.offeredRatePerSecond, now: s.dispatchMs!.p50!, was: p.dispatchMs!.p50! }] : [];
    });
    rows.push({
      target: 'cold path unchanged or better (dispatch p50 at most 20 % above the previous report\'s at each rate both measured below saturation)',
      short: 'cold path unchanged or better',
      scope: `${SANDBOX_WORKLOAD} · pool off`,
      measured: pairs.length ? pairs.map((p) => `${p.rate}/s ${ms(p.now)} ms (was ${ms(p.was)})`).join(', ') : 'no earlier sandbox series to compare with',
      met: pairs.length ? pairs.every((p) => p.now <= p.was * 1.2) : null,
    });
  }

  const echo = workloadName('busybox');
  for (const config of configsOf(http.filter((s) => s.workload === echo))) {
    const at = (rate: number) => http.find((s) => s.workload === echo && s.config === config && s.offeredRatePerSecond === rate && measured(s));
    const [one, fifty] = [at(1), at(50)];
    rows.push({
      target: 'end to end, busybox echo, ?wait=true: p50 ≤ 8 ms at 1/s and at 50/s',
      short: 'echo p50 ≤ 8 ms at 1/s and 50/s',
      scope: `${echo} · ${config}`,
      measured: `1/s: p50 ${ms(one?.latencyMs?.p50)} ms; 50/s: p50 ${ms(fifty?.latencyMs?.p50)} ms`,
      met: one && fifty ? one.latencyMs!.p50! <= 8 && fifty.latencyMs!.p50! <= 8 && !one.errors && !fifty.errors : null,
    });
  }

  const python = workloadName('python');
  const bare = report.baseline && 'latencyMs' in report.baseline ? report.baseline.latencyMs.p50 : null;
  for (const config of configsOf(http.filter((s) => s.workload === python))) {
    const below = http.filter((s) => s.workload === python && s.config === config && measured(s) && !s.saturated)
      .sort((a, b) => a.offeredRatePerSecond - b.offeredRatePerSecond);
    const diffs = bare === null ? [] : below.map((s) => ({ rate: s.offeredRatePerSecond, d: s.latencyMs!.p50! - bare }));
    rows.push({
      target: 'end to end, python `pass`: p50 within 5 ms of the bare interpreter start-up (same run), at every rate below saturation',
      short: 'python pass ≤ bare start-up + 5 ms',
      scope: `${python} · ${config}`,
      measured: bare === null ? 'no bare baseline in this run'
        : `bare p50 ${ms(bare)} ms; over it: ${diffs.length ? diffs.map((x) => `${x.d >= 0 ? '+' : ''}${ms(x.d)} ms at ${x.rate}/s`).join(', ') : 'no unsaturated step'}`,
      met: diffs.length ? diffs.every((x) => x.d <= 5) : null,
    });
  }

  for (const config of configsOf(http.filter((s) => s.workload === echo))) {
    const series = http.filter((s) => s.workload === echo && s.config === config && measured(s));
    if (!series.length) continue;
    const max = Math.max(...series.map((s) => s.throughputPerSecond ?? 0));
    const errors = series.reduce((a, s) => a + (s.errors ?? 0), 0);
    const timeouts = series.reduce((a, s) => a + (s.timeouts ?? 0), 0);
    const saturated = series.some((s) => s.saturated);
    rows.push({
      target: 'end to end, busybox echo: saturation throughput ≥ 400 runs/s with zero errors',
      short: 'echo ≥ 400 runs/s, 0 errors',
      scope: `${echo} · ${config}`,
      measured: `max ${max.toFixed(1)} runs/s${saturated ? '' : ' (not saturated: a lower bound)'}; ${errors} errors, ${timeouts} timeouts`,
      // Not saturated and below 400: the run did not offer enough to tell.
      met: saturated || max >= 400 ? max >= 400 && errors === 0 : null,
    });
  }
  return rows;
}

/** The rows as printed after a run. */
export function formatTargets(rows: readonly TargetResult[]): string[] {
  return rows.map((r) => `  [${r.met === null ? 'n/a' : r.met ? 'met' : 'NOT MET'}] ${r.target}\n        ${r.scope}: ${r.measured}`);
}
