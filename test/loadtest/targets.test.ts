// The targets against a report: met / not met / n/a from the figures, per configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Report, StepResult } from '../../loadtest/report.ts';
import { evaluateTargets, formatTargets, type TargetResult } from '../../loadtest/targets.ts';
import { SANDBOX_WORKLOAD } from '../../loadtest/workloads.ts';

const lat = (p50: number, p99 = p50 * 2) => ({ p50, p90: p50, p99, max: p99 });

function http(workload: string, config: string, rate: number, p50: number, extra: Partial<StepResult> = {}): StepResult {
  return {
    layer: 'http', workload, config, offeredRatePerSecond: rate, seconds: 3, sent: rate * 3, ok: rate * 3, errors: 0, timeouts: 0, dropped: 0,
    throughputPerSecond: rate, latencyMs: lat(p50), lagMs: lat(0), reasons: {}, saturated: false, ...extra,
  };
}

function sandbox(config: string, rate: number, p50: number, p99: number, extra: Partial<StepResult> = {}): StepResult {
  return { ...http(SANDBOX_WORKLOAD, config, rate, p50 + 1), layer: 'sandbox', dispatchMs: lat(p50, p99), ...extra };
}

const find = (rows: TargetResult[], short: RegExp, scope: RegExp) => {
  const r = rows.find((x) => short.test(x.short) && scope.test(x.scope));
  assert.ok(r, `no row ${short} ${scope} in ${JSON.stringify(rows.map((x) => [x.short, x.scope]))}`);
  return r;
};

test('sandbox latency: every rate up to the first saturated one counts, beyond it none', () => {
  const steps = [
    sandbox('pool on', 1, 1.5, 3), sandbox('pool on', 50, 1.8, 4.5), sandbox('pool on', 500, 1.9, 4.9, { saturated: true }),
    sandbox('pool on', 1000, 40, 90, { saturated: true }), // beyond saturation: not judged
    sandbox('pool off', 1, 12, 16), sandbox('pool off', 50, 3, 9),
  ];
  const rows = evaluateTargets({ steps });
  const on = find(rows, /sandbox dispatch/, /pool on/);
  assert.equal(on.met, true, on.measured);
  assert.match(on.measured, /worst p50 1\.90 ms \(at 500\/s\), worst p99 4\.90 ms \(at 500\/s\) over 1, 50, 500\/s/);
  const off = find(rows, /sandbox dispatch/, /pool off/);
  assert.equal(off.met, false);
  assert.match(off.measured, /worst p50 12\.00 ms \(at 1\/s\), worst p99 16\.00 ms \(at 1\/s\)/);
});

test('cold path: n/a without an earlier report, otherwise within 20 % at the common unsaturated rates', () => {
  const steps = [sandbox('pool off', 1, 12, 16), sandbox('pool off', 50, 3, 9)];
  assert.equal(find(evaluateTargets({ steps }), /cold path/, /pool off/).met, null);
  const same = evaluateTargets({ steps }, { steps: [sandbox('pool off', 1, 11, 15), sandbox('pool off', 50, 2.6, 8)] });
  assert.equal(find(same, /cold path/, /pool off/).met, true);
  const worse = evaluateTargets({ steps }, { steps: [sandbox('pool off', 1, 8, 15), sandbox('pool off', 200, 2, 3)] });
  const row = find(worse, /cold path/, /pool off/);
  assert.equal(row.met, false);
  assert.equal(row.measured, '1/s 12.00 ms (was 8.00)');
});

test('end to end: busybox echo at 1/s and 50/s, python over the bare start-up, throughput and errors', () => {
  const steps = [
    http('busybox echo', 'pool on', 1, 6), http('busybox echo', 'pool on', 50, 7.5), http('busybox echo', 'pool on', 500, 900, { throughputPerSecond: 420, saturated: true }),
    http('busybox echo', 'pool off', 1, 20), http('busybox echo', 'pool off', 50, 7), http('busybox echo', 'pool off', 500, 900, { throughputPerSecond: 450, errors: 2, saturated: true }),
    http('python3 pass', 'pool on', 1, 14), http('python3 pass', 'pool on', 50, 14.5), http('python3 pass', 'pool on', 200, 3000, { saturated: true }),
    http('python3 pass', 'pool off', 1, 14), http('python3 pass', 'pool off', 50, 17),
  ];
  const baseline = { workload: 'python3 pass', describe: 'x', argv: [], runs: 10, latencyMs: lat(10), meanMs: 10 };
  const rows = evaluateTargets({ steps, baseline });
  assert.equal(find(rows, /echo p50/, /pool on/).met, true);
  assert.equal(find(rows, /echo p50/, /pool off/).met, false);
  const pyOn = find(rows, /python/, /pool on/);
  assert.equal(pyOn.met, true, 'the saturated 200/s step is not judged');
  assert.equal(pyOn.measured, 'bare p50 10.00 ms; over it: +4.00 ms at 1/s, +4.50 ms at 50/s');
  assert.equal(find(rows, /python/, /pool off/).met, false);
  assert.equal(find(rows, /400 runs/, /pool on/).met, true);
  const thrOff = find(rows, /400 runs/, /pool off/);
  assert.equal(thrOff.met, false, 'errors fail it even above 400 runs/s');
  assert.match(thrOff.measured, /max 450\.0 runs\/s; 2 errors, 0 timeouts/);

  const noBaseline = evaluateTargets({ steps, baseline: { workload: 'python3 pass', skipped: 'the python image is not built' } });
  assert.equal(find(noBaseline, /python/, /pool on/).met, null);
  assert.match(formatTargets(noBaseline).join('\n'), /\[n\/a\] end to end, python/);
});

test('nothing measured, nothing judged', () => {
  assert.deepEqual(evaluateTargets({ steps: [] }), []);
  const low = evaluateTargets({ steps: [http('busybox echo', 'pool on', 1, 9)] });
  assert.equal(find(low, /400 runs/, /pool on/).met, null, 'never offered enough to saturate');
  const skipped = evaluateTargets({ steps: [{ layer: 'http', workload: 'busybox echo', config: 'pool on', offeredRatePerSecond: 1, seconds: 3, skipped: 'not built' }] });
  assert.equal(find(skipped, /echo p50/, /pool on/).met, null);
});
