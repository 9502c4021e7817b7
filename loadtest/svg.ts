// Draws the report as an SVG: latency (log) against offered request rate (log), one line per
// workload × configuration for p50 (solid) and p99 (dashed) — the sandbox-only series in grey —,
// the bare python start-up as a dotted level, a legend, and a caption with the throughput at
// saturation, the error counts and the targets. Plain strings, no plotting library.
import { saturationThroughput, seriesKey, type Report, type StepResult } from './report.ts';

const W = 960;
const PLOT = { left: 80, top: 60, width: 560, height: 380 };
// One hue per workload: the first configuration (pool off) light, the others dark.
const HUES: Array<[light: string, dark: string]> = [['#8fbce6', '#1f5fa0'], ['#f2a099', '#b2221b'], ['#98d98a', '#23801a'], ['#c5b0d5', '#6a3d9a'], ['#e3c29b', '#8c564b']];
const SANDBOX_HUE: [string, string] = ['#b0b0b0', '#303030'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Powers of ten (and 2×, 5×) covering [lo, hi], for log-axis ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

const fmt = (v: number) => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toPrecision(3)}`);

export interface Series { key: string; percentile: 'p50' | 'p99'; color: string; points: Array<[rate: number, ms: number]> }

/** The lines to draw: for each workload × configuration that has measured steps, p50 and p99. */
export function seriesOf(steps: readonly StepResult[]): Series[] {
  const keys = [...new Set(steps.map(seriesKey))];
  const workloads = [...new Set(steps.filter((s) => s.layer !== 'sandbox').map((s) => s.workload))];
  const configs = [...new Set(steps.map((s) => s.config))];
  const out: Series[] = [];
  keys.forEach((key) => {
    const measured = steps.filter((s) => seriesKey(s) === key && !s.skipped && s.latencyMs)
      .sort((a, b) => a.offeredRatePerSecond - b.offeredRatePerSecond);
    if (!measured.length) return;
    const hue = measured[0]!.layer === 'sandbox' ? SANDBOX_HUE : HUES[workloads.indexOf(measured[0]!.workload) % HUES.length]!;
    const color = configs.indexOf(measured[0]!.config) === 0 ? hue[0] : hue[1];
    for (const p of ['p50', 'p99'] as const) {
      const points = measured.flatMap((s): Array<[number, number]> => {
        const v = s.latencyMs![p];
        return v === null ? [] : [[s.offeredRatePerSecond, Math.max(v, 0.1)]];
      });
      if (points.length) out.push({ key, percentile: p, color, points });
    }
  });
  return out;
}

export function renderSvg(report: Report): string {
  const series = seriesOf(report.steps);
  const all = series.flatMap((s) => s.points);
  const rates = all.map(([r]) => r);
  const bare = report.baseline && 'latencyMs' in report.baseline ? report.baseline.latencyMs.p50 : null;
  const ms = [...all.map(([, m]) => m), ...(bare ? [bare] : [])];
  const xLo = Math.min(...rates, 1);
  const xHi = Math.max(...rates, 10);
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...ms, 10)));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...ms, 100)));
  const x = (r: number) => PLOT.left + ((Math.log10(r) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo) || 1)) * PLOT.width;
  const y = (m: number) => PLOT.top + PLOT.height - ((Math.log10(m) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo) || 1)) * PLOT.height;

  const caption = captionLines(report).flatMap((line) => wrapLine(line, CAPTION_MAX_CHARS));
  const H = PLOT.top + PLOT.height + 60 + caption.length * 16 + 10;
  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(report.title)}</text>`);
  o.push(`<text x="${W / 2}" y="42" text-anchor="middle" fill="#555" font-size="11">${escapeXml(`open-loop POST /v1/runs?wait=true on loopback (grey: runInSandbox only); latency from each scheduled arrival; ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${report.host.cpus} CPUs${report.host.loadAverage ? `, load ${report.host.loadAverage.start.toFixed(1)}` : ''}`)}</text>`);
  // grid and ticks
  for (const t of logTicks(xLo, xHi)) {
    o.push(`<line x1="${x(t).toFixed(1)}" y1="${PLOT.top}" x2="${x(t).toFixed(1)}" y2="${PLOT.top + PLOT.height}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${x(t).toFixed(1)}" y="${PLOT.top + PLOT.height + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of logTicks(yLo, yHi)) {
    o.push(`<line x1="${PLOT.left}" y1="${y(t).toFixed(1)}" x2="${PLOT.left + PLOT.width}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    o.push(`<text x="${PLOT.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  o.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.width}" height="${PLOT.height}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${PLOT.left + PLOT.width / 2}" y="${PLOT.top + PLOT.height + 36}" text-anchor="middle">offered request rate, runs/s (log scale)</text>`);
  o.push(`<text transform="translate(24 ${PLOT.top + PLOT.height / 2}) rotate(-90)" text-anchor="middle">latency, ms (log scale)</text>`);
  if (report.options.maxWaitMs) {
    const yw = y(report.options.maxWaitMs);
    if (yw >= PLOT.top) {
      o.push(`<line x1="${PLOT.left}" y1="${yw.toFixed(1)}" x2="${PLOT.left + PLOT.width}" y2="${yw.toFixed(1)}" stroke="#999" stroke-dasharray="2 4"/>`);
      o.push(`<text x="${PLOT.left + 4}" y="${(yw - 4).toFixed(1)}" fill="#777" font-size="10">server wait limit (timeouts)</text>`);
    }
  }
  if (bare) {
    const yb = y(bare);
    o.push(`<line class="baseline" x1="${PLOT.left}" y1="${yb.toFixed(1)}" x2="${PLOT.left + PLOT.width}" y2="${yb.toFixed(1)}" stroke="#23801a" stroke-dasharray="1 3" stroke-width="1.5"/>`);
    o.push(`<text x="${PLOT.left + 4}" y="${(yb + 12).toFixed(1)}" fill="#23801a" font-size="10">${escapeXml(`bare python3 start-up, no sandbox: p50 ${bare.toFixed(1)} ms`)}</text>`);
  }
  // the lines: one <path> per series
  for (const s of series) {
    const d = s.points.map(([r, m], i) => `${i ? 'L' : 'M'}${x(r).toFixed(1)} ${y(m).toFixed(1)}`).join(' ');
    const dash = s.percentile === 'p99' ? ' stroke-dasharray="6 4"' : '';
    o.push(`<path class="series" data-series="${escapeXml(`${s.key} ${s.percentile}`)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [r, m] of s.points) o.push(`<circle cx="${x(r).toFixed(1)}" cy="${y(m).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
  }
  // legend
  const lx = PLOT.left + PLOT.width + 20;
  let ly = PLOT.top + 6;
  o.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="#333" stroke-width="2"/><text x="${lx + 34}" y="${ly + 4}">p50</text>`);
  o.push(`<line x1="${lx + 80}" y1="${ly}" x2="${lx + 108}" y2="${ly}" stroke="#333" stroke-width="2" stroke-dasharray="6 4"/><text x="${lx + 114}" y="${ly + 4}">p99</text>`);
  ly += 22;
  for (const s of series.filter((v) => v.percentile === 'p50')) {
    o.push(`<rect x="${lx}" y="${ly - 6}" width="28" height="10" fill="${s.color}"/><text x="${lx + 34}" y="${ly + 3}">${escapeXml(s.key)}</text>`);
    ly += 18;
  }
  // caption
  let cy = PLOT.top + PLOT.height + 62;
  for (const line of caption) {
    // SVG collapses the continuation's leading spaces: indent it by position instead.
    const indent = line.startsWith(' ') ? 24 : 0;
    o.push(`<text x="${PLOT.left - 60 + indent}" y="${cy}" fill="#333">${escapeXml(line.trimStart())}</text>`);
    cy += 16;
  }
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

/** About what fits the picture's width at 12 px (a target's figures at four rates did not). */
const CAPTION_MAX_CHARS = 140;

/** Breaks a caption line at spaces into pieces of at most max characters; the rest indented. */
export function wrapLine(line: string, max: number): string[] {
  const out: string[] = [];
  let rest = line;
  while (rest.length > max) {
    const cut = rest.lastIndexOf(' ', max);
    if (cut <= 4) break; // one long word: leave it whole
    out.push(rest.slice(0, cut));
    rest = `    ${rest.slice(cut + 1)}`;
  }
  out.push(rest);
  return out;
}

/** One line per workload × configuration (throughput at saturation, errors and timeouts), then the targets. */
export function captionLines(report: Report): string[] {
  const sat = saturationThroughput(report.steps);
  const lines: string[] = [];
  for (const [key, thr] of sat) {
    const steps = report.steps.filter((s) => seriesKey(s) === key && !s.skipped);
    const errors = steps.reduce((a, s) => a + (s.errors ?? 0), 0);
    const timeouts = steps.reduce((a, s) => a + (s.timeouts ?? 0), 0);
    const sent = steps.reduce((a, s) => a + (s.sent ?? 0), 0);
    const firstSat = steps.find((s) => s.saturated);
    lines.push(`${key}: max throughput ${thr.toFixed(1)} runs/s${firstSat ? `, saturated at ${firstSat.offeredRatePerSecond}/s` : ', not saturated'}; ${errors} errors, ${timeouts} timeouts of ${sent} requests`);
  }
  if (report.targets?.length) lines.push('Targets of issue 6 (reported, never enforced):');
  for (const t of report.targets ?? []) {
    const measured = t.measured.replace(/ over [\d, ]+\/s$/, '');
    lines.push(`[${t.met === null ? 'n/a' : t.met ? 'met' : 'not met'}] ${t.short} — ${t.scope.split(' · ').pop()}: ${measured}`);
  }
  return lines;
}
