// The SVG writer: well-formed XML (checked by a minimal tag-balance parser) with one <path> per
// series (workload × configuration × {p50, p99}), a legend and the caption.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Report, StepResult } from '../../loadtest/report.ts';
import { captionLines, logTicks, renderSvg, wrapLine } from '../../loadtest/svg.ts';

function step(workload: string, config: string, rate: number, p50: number, extra: Partial<StepResult> = {}): StepResult {
  return {
    workload, config, offeredRatePerSecond: rate, seconds: 2, sent: rate * 2, ok: rate * 2, errors: 0, timeouts: 0, dropped: 0,
    throughputPerSecond: rate, latencyMs: { p50, p90: p50 * 2, p99: p50 * 3, max: p50 * 4 }, lagMs: { p50: 0, p90: 0, p99: 0, max: 0 },
    reasons: {}, saturated: false, ...extra,
  };
}

function report(steps: StepResult[]): Report {
  return {
    title: 'test <&> "report"', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z',
    host: { cpus: 2, kernel: 'x', node: 'v20' }, options: { rates: [1, 10, 100], seconds: 2, maxWaitMs: 5000, quick: false },
    notes: [], configs: [], workloads: [], steps,
  };
}

/** Minimal well-formedness: one root <svg>, every tag closed in order, attributes quoted. */
function parseTags(xml: string): Array<{ name: string; attrs: Record<string, string> }> {
  const stack: string[] = [];
  const elements: Array<{ name: string; attrs: Record<string, string> }> = [];
  const text = xml.trim();
  assert.ok(text.startsWith('<svg') && text.endsWith('</svg>'), 'one <svg> root');
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|>/g)) {
    assert.ok(m[2], `stray "${m[0]}" near ${text.slice(Math.max(0, m.index! - 40), m.index! + 40)}`);
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      assert.equal(stack.pop(), name, `</${name}> closes the open element`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]!] = a[2]!;
    elements.push({ name: name!, attrs });
    if (!selfClose) stack.push(name!);
  }
  assert.deepEqual(stack, [], 'every element is closed');
  return elements;
}

test('well-formed SVG with one path per series, a legend entry per workload × configuration and a caption', () => {
  const steps = [
    step('bash echo', 'pool off', 1, 30), step('bash echo', 'pool off', 10, 32), step('bash echo', 'pool off', 100, 900, { saturated: true, timeouts: 3 }),
    step('bash echo', 'pool on', 1, 20), step('bash echo', 'pool on', 10, 22),
    step('C hello', 'pool off', 1, 300), step('C hello', 'pool off', 10, 0, { skipped: 'saturated already at 1/s' }),
  ];
  const svg = renderSvg(report(steps));
  const elements = parseTags(svg);
  const paths = elements.filter((e) => e.name === 'path' && e.attrs.class === 'series');
  assert.equal(paths.length, 3 * 2, 'three workload × configuration series, p50 and p99 each');
  assert.deepEqual(paths.map((p) => p.attrs['data-series']).sort(), [
    'C hello · pool off p50', 'C hello · pool off p99', 'bash echo · pool off p50', 'bash echo · pool off p99',
    'bash echo · pool on p50', 'bash echo · pool on p99',
  ]);
  const points = (d: string) => d.split(/[ML]/).filter((v) => v.trim()).length;
  assert.equal(points(paths.find((p) => p.attrs['data-series'] === 'bash echo · pool off p50')!.attrs.d!), 3);
  assert.equal(points(paths.find((p) => p.attrs['data-series'] === 'C hello · pool off p99')!.attrs.d!), 1, 'skipped steps are not drawn');
  assert.match(svg, /test &lt;&amp;&gt; &quot;report&quot;/, 'the title is escaped');
  assert.match(svg, /bash echo · pool off: max throughput 100\.0 runs\/s, saturated at 100\/s; 0 errors, 3 timeouts/);
});

test('an empty report still renders a well-formed SVG without series', () => {
  const elements = parseTags(renderSvg(report([])));
  assert.equal(elements.filter((e) => e.name === 'path').length, 0);
  assert.deepEqual(captionLines(report([])), []);
});

test('log ticks cover the range with 1-2-5 steps', () => {
  assert.deepEqual(logTicks(1, 500), [1, 2, 5, 10, 20, 50, 100, 200, 500]);
  assert.deepEqual(logTicks(10, 1000), [10, 20, 50, 100, 200, 500, 1000]);
});

test('the sandbox-only series in grey, the bare baseline as a level, the targets in the caption', () => {
  const r = report([
    step('sandbox: busybox echo', 'pool off', 1, 12, { layer: 'sandbox' }), step('sandbox: busybox echo', 'pool on', 1, 2, { layer: 'sandbox' }),
    step('busybox echo', 'pool off', 1, 30), step('busybox echo', 'pool on', 1, 9),
  ]);
  r.baseline = { workload: 'python3 pass', describe: 'x', argv: [], runs: 10, latencyMs: { p50: 9.5, p90: 10, p99: 11, max: 11 }, meanMs: 9.6 };
  r.targets = [{ target: 'long', short: 'echo p50 ≤ 8 ms at 1/s and 50/s', scope: 'busybox echo · pool on', measured: '1/s: p50 9.00 ms; 50/s: p50 — ms', met: false }];
  const svg = renderSvg(r);
  const elements = parseTags(svg);
  const color = (key: string) => elements.find((e) => e.attrs['data-series'] === `${key} p50`)!.attrs.stroke;
  assert.equal(color('sandbox: busybox echo · pool off'), '#b0b0b0');
  assert.equal(color('sandbox: busybox echo · pool on'), '#303030');
  assert.equal(color('busybox echo · pool on'), '#1f5fa0', 'the HTTP workloads keep the first hues');
  assert.equal(elements.filter((e) => e.attrs.class === 'baseline').length, 1);
  assert.match(svg, /bare python3 start-up, no sandbox: p50 9\.5 ms/);
  assert.match(svg, /\[not met\] echo p50 ≤ 8 ms at 1\/s and 50\/s — pool on: 1\/s: p50 9\.00 ms/);
});

test('long caption lines wrap at spaces, continued indented, so they stay inside the picture', () => {
  assert.deepEqual(wrapLine('short line', 20), ['short line']);
  const line = 'cold path unchanged: 1/s 13.50 ms (was 22.62), 10/s 18.90 ms';
  const pieces = wrapLine(line, 26);
  assert.deepEqual(pieces, ['cold path unchanged: 1/s', '    13.50 ms (was 22.62),', '    10/s 18.90 ms']);
  assert.ok(wrapLine(line, 24).every((p) => p.length <= 24));
  assert.equal(wrapLine(line, 24).map((p) => p.trim()).join(' '), line, 'no word lost');
  assert.ok(wrapLine('x'.repeat(50), 10).length === 1, 'a word longer than the width stays whole');
  const r = report([step('busybox echo', 'pool on', 1, 9)]);
  r.targets = [{ target: 'long', short: 'cold path unchanged or better', scope: 'pool off', measured: Array.from({ length: 12 }, (_, i) => `${i}/s ${i}.00 ms (was ${i}.50)`).join(', '), met: false }];
  const texts = parseTags(renderSvg(r)).filter((e) => e.name === 'text');
  assert.ok(texts.length > 0);
  assert.ok(!renderSvg(r).split('\n').some((l) => l.startsWith('<text') && />([^<]{141,})</.test(l)), 'no caption text longer than the width');
});
