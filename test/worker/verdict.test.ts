import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileVerdict, outcomeVerdict, overallVerdict, shouldContinue, type OutcomeLike } from '../../worker/verdict.ts';
import { applyCpuLimit, mergeRepeats, toPhaseResult as toPhaseBytes } from '../../worker/phase-result.ts';
import { phaseText } from '../../services/core/result-json.ts';
import type { Verdict } from '../../services/core/schemas.ts';

/** The phase as the API shows it (the worker holds its output as bytes). */
const toPhaseResult = (...a: Parameters<typeof toPhaseBytes>) => phaseText(toPhaseBytes(...a));

const o = (status: OutcomeLike['status'], exitCode: number | null = 0): OutcomeLike => ({ status, exitCode });

const table: Array<[OutcomeLike, string, string | undefined, Verdict]> = [
  [o('ok'), 'hi\n', undefined, 'accepted'],
  [o('ok'), 'hi\n', 'hi', 'accepted'],
  [o('ok'), 'ho\n', 'hi', 'wrong_answer'],
  [o('ok', 3), 'hi\n', 'hi', 'runtime_error'],
  [o('runtime_error', 1), '', undefined, 'runtime_error'],
  [o('runtime_error', null), 'hi', 'hi', 'runtime_error'],
  [o('time_limit', null), '', 'x', 'time_limit'],
  [o('memory_limit', null), '', undefined, 'memory_limit'],
  [o('output_limit', null), '', undefined, 'output_limit'],
  [o('internal_error', null), 'hi', 'hi', 'internal_error'],
];
for (const [outcome, stdout, expected, want] of table) {
  test(`outcomeVerdict ${outcome.status}/${outcome.exitCode} ${JSON.stringify(stdout)} vs ${JSON.stringify(expected)} → ${want}`, () => {
    assert.equal(outcomeVerdict(outcome, stdout, expected, 'trailing-whitespace'), want);
  });
}

test('compileVerdict', () => {
  assert.equal(compileVerdict(o('ok')), null);
  assert.equal(compileVerdict(o('ok', 1)), 'compile_error');
  assert.equal(compileVerdict(o('runtime_error', 1)), 'compile_error');
  assert.equal(compileVerdict(o('time_limit', null)), 'compile_error');
  assert.equal(compileVerdict(o('internal_error', null)), 'internal_error');
});

test('overallVerdict is the first failure in order', () => {
  assert.equal(overallVerdict([]), 'accepted');
  assert.equal(overallVerdict(['accepted', 'accepted']), 'accepted');
  assert.equal(overallVerdict(['accepted', 'time_limit', 'wrong_answer']), 'time_limit');
});

test('shouldContinue', () => {
  assert.equal(shouldContinue('accepted', true), true);
  assert.equal(shouldContinue('wrong_answer', true), false);
  assert.equal(shouldContinue('wrong_answer', false), true);
  assert.equal(shouldContinue('internal_error', false), false);
});

const outcome = (over: Partial<Parameters<typeof toPhaseResult>[0]> = {}) => ({
  status: 'ok' as const, exitCode: 0, signal: null, cpuMs: 10, wallMs: 20, memoryKb: 1000,
  stdout: Buffer.from('out'), stderr: Buffer.from('err'), stdoutTruncated: false, stderrTruncated: false, ...over,
});

test('toPhaseResult keeps UTF-8 as text and other bytes as base64', () => {
  const a = toPhaseResult(outcome());
  assert.equal(a.encoding, 'utf8');
  assert.equal(a.stdout, 'out');
  const b = toPhaseResult(outcome({ stdout: Buffer.from([0xff, 0xfe, 0x00]) }));
  assert.equal(b.encoding, 'base64');
  assert.deepEqual(Buffer.from(b.stdout, 'base64'), Buffer.from([0xff, 0xfe, 0x00]));
  assert.equal(Buffer.from(b.stderr, 'base64').toString(), 'err');
  assert.equal(toPhaseResult(outcome({ stderrTruncated: true })).truncated, true);
});

test('applyCpuLimit turns grace-time use into a time limit', () => {
  assert.equal(applyCpuLimit(outcome({ cpuMs: 900 }), 1000).status, 'ok');
  const t = applyCpuLimit(outcome({ cpuMs: 1200 }), 1000);
  assert.equal(t.status, 'time_limit');
  assert.equal(t.limit, 'cpu');
  assert.equal(applyCpuLimit(outcome({ status: 'internal_error', cpuMs: 5000 }), 1000).status, 'internal_error');
});

test('mergeRepeats averages times and keeps peak memory', () => {
  const m = mergeRepeats([outcome({ cpuMs: 10, wallMs: 10, memoryKb: 5 }), outcome({ cpuMs: 30, wallMs: 50, memoryKb: 9 })]);
  assert.equal(m.cpuMs, 20);
  assert.equal(m.wallMs, 30);
  assert.equal(m.memoryKb, 9);
});
