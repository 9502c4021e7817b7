// A run's output stays bytes until toPhaseResult: comparing bytes gives the verdicts comparing
// text gave; the result keeps at most its output budget (cut phases marked truncated); text that
// JSON would more than double is sent as base64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutput } from '../../worker/compare.ts';
import { JSON_ESCAPE_SLACK_CHARS, OutputBudget, toPhaseResult as toPhaseBytes, type OutcomeCore } from '../../worker/phase-result.ts';
import { phaseText } from '../../services/core/result-json.ts';

/** The phase as the API shows it (the worker holds its output as bytes). */
const toPhaseResult = (...a: Parameters<typeof toPhaseBytes>) => phaseText(toPhaseBytes(...a));

/** A small deterministic generator (the cases are the same on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('exact and trailing-whitespace compare bytes as they compared text', () => {
  const alphabet = ['a', 'b', ' ', '\t', '\r', '\n', '\f', '\v', 'é'];
  const rand = rng(22);
  const word = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
  const mutate = (s: string) => {
    const at = Math.floor(rand() * (s.length + 1));
    return rand() < 0.5 ? s.slice(0, at) + alphabet[Math.floor(rand() * alphabet.length)] + s.slice(at) : s.slice(0, at) + s.slice(at + 1);
  };
  let agreedTrue = 0;
  for (let i = 0; i < 20_000; i++) {
    const e = word(Math.floor(rand() * 10));
    const a = rand() < 0.5 ? e : rand() < 0.5 ? mutate(e) : word(Math.floor(rand() * 10));
    for (const mode of ['exact', 'trailing-whitespace'] as const) {
      const text = compareOutput(a, e, mode);
      assert.equal(compareOutput(Buffer.from(a), e, mode), text, `${mode}: ${JSON.stringify(a)} vs ${JSON.stringify(e)}`);
      if (text) agreedTrue++;
    }
  }
  assert.ok(agreedTrue > 1000, 'the cases include many matches, not only mismatches');
  // The other modes take bytes too (on their text).
  assert.equal(compareOutput(Buffer.from('YES\r\n'), 'yes', 'case-insensitive'), true);
  assert.equal(compareOutput(Buffer.from('b\na\n'), 'a\nb', 'unordered-lines'), true);
});

test('trailing-whitespace on bytes: blank trailing lines and trailing spaces go, inner ones count', () => {
  assert.equal(compareOutput(Buffer.from('1 2 \r\n3\n\n  \n'), '1 2\n3'), true);
  assert.equal(compareOutput(Buffer.from('1  2\n'), '1 2'), false);
  assert.equal(compareOutput(Buffer.from('\n1\n'), '1'), false);
  assert.equal(compareOutput(Buffer.from(''), '\n \n'), true);
  assert.equal(compareOutput(Buffer.from('x'), ''), false);
  // Not valid UTF-8: compared as bytes (text comparison saw U+FFFD for it).
  assert.equal(compareOutput(Buffer.from([0xff, 0x0a]), '\ufffd'), false);
});

function outcome(stdout: Buffer, stderr = Buffer.alloc(0)): OutcomeCore {
  return {
    status: 'ok', exitCode: 0, signal: null, cpuMs: 1, wallMs: 1, memoryKb: 1, stdout, stderr, stdoutTruncated: false, stderrTruncated: false,
  };
}

test('the output budget: what fits is kept, the stream beyond is cut at a character boundary and marked truncated', () => {
  const budget = new OutputBudget(10);
  const first = toPhaseResult(outcome(Buffer.from('abcdef'), Buffer.from('gh')), {}, budget);
  assert.deepEqual([first.stdout, first.stderr, first.truncated], ['abcdef', 'gh', false]);
  const second = toPhaseResult(outcome(Buffer.from('iééé')), {}, budget); // 2 bytes left: 'i' and half an é
  assert.deepEqual([second.stdout, second.encoding, second.truncated], ['i', 'utf8', true]);
  const third = toPhaseResult(outcome(Buffer.from('more'), Buffer.from('err')), {}, budget);
  assert.deepEqual([third.stdout, third.stderr, third.truncated], ['', '', true]);
  // Nothing to keep is nothing cut.
  assert.equal(toPhaseResult(outcome(Buffer.alloc(0)), {}, budget).truncated, false);
});

test('text that JSON would more than double goes as base64; small or ordinary text stays text', () => {
  const n = 2 * JSON_ESCAPE_SLACK_CHARS;
  const controls = Buffer.alloc(n, 0x01);
  const r = toPhaseResult(outcome(controls));
  assert.equal(r.encoding, 'base64');
  assert.ok(Buffer.from(r.stdout, 'base64').equals(controls));
  assert.ok(JSON.stringify(r).length < 2 * n, 'the result JSON stays within twice the output');
  // Newlines and quotes add one character each: at most double, still text.
  assert.equal(toPhaseResult(outcome(Buffer.from('"\n'.repeat(n / 2)))).encoding, 'utf8');
  // A few control bytes in a small output keep it text.
  assert.equal(toPhaseResult(outcome(Buffer.from('a\u0000b\u0001'))).encoding, 'utf8');
  // Either stream decides for both (one encoding per phase).
  const both = toPhaseResult(outcome(Buffer.from('plain'), controls));
  assert.deepEqual([both.encoding, Buffer.from(both.stdout, 'base64').toString()], ['base64', 'plain']);
});
