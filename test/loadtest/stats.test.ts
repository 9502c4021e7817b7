// Percentiles (nearest rank), the step summary, and how answers are classified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, percentiles, summarize, type Sample } from '../../loadtest/stats.ts';
import { classify, classifyFailure } from '../../loadtest/workloads.ts';

test('nearest-rank percentiles', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 0.5), 50);
  assert.equal(percentile(s, 0.9), 90);
  assert.equal(percentile(s, 0.99), 99);
  assert.equal(percentile(s, 1), 100);
  assert.equal(percentile(s, 0), 1);
  assert.equal(percentile([7], 0.99), 7);
  assert.equal(percentile([], 0.5), null);
  assert.deepEqual(percentiles([3, 1, 2, 10]), { p50: 2, p90: 10, p99: 10, max: 10 });
  assert.deepEqual(percentiles([]), { p50: null, p90: null, p99: null, max: null });
});

test('summary: errors stay out of the latency, timeouts stay in; throughput over the span', () => {
  const samples: Sample[] = [
    { outcome: 'ok', latencyMs: 10, lagMs: 0 },
    { outcome: 'ok', latencyMs: 20, lagMs: 1 },
    { outcome: 'timeout', latencyMs: 5000, lagMs: 0, reason: 'wait_limit_202' },
    { outcome: 'error', latencyMs: 1, lagMs: 2, reason: 'http_503_queue_full' },
  ];
  const s = summarize(samples, { okSpanMs: 2000, dropped: 1 });
  assert.equal(s.sent, 4);
  assert.equal(s.ok, 2);
  assert.equal(s.errors, 1);
  assert.equal(s.timeouts, 1);
  assert.equal(s.dropped, 1);
  assert.equal(s.throughputPerSecond, 1);
  assert.equal(s.latencyMs.p50, 20);
  assert.equal(s.latencyMs.max, 5000);
  assert.deepEqual(s.reasons, { wait_limit_202: 1, http_503_queue_full: 1 });
});

test('classification of answers', () => {
  assert.deepEqual(classify({ status: 200, body: { status: 'completed', verdict: 'accepted' } }), { outcome: 'ok' });
  assert.deepEqual(classify({ status: 202, body: { id: 'abc', status: 'queued' } }), { outcome: 'timeout', reason: 'wait_limit_202', runId: 'abc' });
  assert.equal(classify({ status: 200, body: { status: 'completed', verdict: 'runtime_error' } }).reason, 'run_completed_runtime_error');
  assert.equal(classify({ status: 503, body: { error: { code: 'queue_full' } } }).reason, 'http_503_queue_full');
  assert.equal(classify({ status: 500, body: 'oops' }).outcome, 'error');
  assert.deepEqual(classifyFailure(Object.assign(new Error('x'), { code: 'CLIENT_TIMEOUT' })), { outcome: 'timeout', reason: 'client_timeout' });
  assert.deepEqual(classifyFailure(Object.assign(new Error('x'), { code: 'ECONNRESET' })), { outcome: 'error', reason: 'network_ECONNRESET' });
});
