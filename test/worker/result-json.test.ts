// The result's JSON written from the output's bytes (services/core/result-json.ts) is byte for
// byte what JSON.stringify made of the same result with its output as text — what the API sends
// as stored and the Judge0 and Piston faces parse — whatever bytes the program wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { phasePreview, phaseText, resultJson, type ResultBytes } from '../../services/core/result-json.ts';
import type { RunResult } from '../../services/core/schemas.ts';
import { toPhaseResult, type OutcomeCore } from '../../worker/phase-result.ts';

function outcome(stdout: Buffer, stderr: Buffer = Buffer.alloc(0)): OutcomeCore {
  return { status: 'ok', exitCode: 0, signal: null, cpuMs: 1, wallMs: 2, memoryKb: 3, stdout, stderr, stdoutTruncated: false, stderrTruncated: false };
}

/** Random valid UTF-8: ASCII (control characters, quotes, backslashes included), 2-, 3- and 4-byte characters, U+2028, a BOM. */
function randomText(seed: number, chars: number): Buffer {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31);
  const parts: string[] = [];
  for (let i = 0; i < chars; i++) {
    const k = next() % 10;
    if (k < 5) parts.push(String.fromCharCode(next() % 128));
    else if (k === 5) parts.push('é');
    else if (k === 6) parts.push('\u2028');
    else if (k === 7) parts.push('\ufeff');
    else if (k === 8) parts.push('😀');
    else parts.push('"\\');
  }
  return Buffer.from(parts.join(''));
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function result(phases: Array<ReturnType<typeof toPhaseResult>>): ResultBytes {
  const [compile, run, ...tests] = phases;
  return {
    id: 'r1', status: 'completed', language: 'python', verdict: 'accepted',
    compile: compile!, run: run ?? null, tests: tests.length ? tests.map((t, i) => ({ ...t, index: i, checker: { exitCode: 0, message: `corral-output-${'0'.repeat(32)}-0 "quoted"`, verdict: 'accepted' } as never })) : null,
    files: [{ path: 'out.txt', size: 3, content: Buffer.from('abc').toString('base64'), truncated: false }],
    error: null, createdAt: '2026-01-01T00:00:00.000Z', startedAt: null, finishedAt: null, queueWaitMs: 5,
    checkerCompile: compile!,
  };
}

/** The JSON as it was made before: the output as text, then JSON.stringify, then UTF-8. */
function asText(r: ResultBytes): Buffer {
  const { checkerCompile: _bytes, interactorCompile: _none, ...rest } = r;
  const text: RunResult = {
    ...rest,
    compile: r.compile && phaseText(r.compile), run: r.run && phaseText(r.run), tests: r.tests && r.tests.map(phaseText),
    ...(r.checkerCompile ? { checkerCompile: phaseText(r.checkerCompile) } : {}),
  };
  return Buffer.from(JSON.stringify(text));
}

test('resultJson writes what JSON.stringify wrote of the text: every byte value, UTF-8 of every length, base64, empty streams', () => {
  const phases = [
    toPhaseResult(outcome(Buffer.from('main.c: warning "x"\n'), Buffer.alloc(0))),
    toPhaseResult(outcome(allBytes, Buffer.from('not utf-8 → base64'))),
    toPhaseResult(outcome(randomText(1, 5000), randomText(2, 300))),
    toPhaseResult(outcome(Buffer.from(allBytes.subarray(0, 128)), Buffer.from('\u0000\u001f\u007f'))),
    toPhaseResult(outcome(Buffer.alloc(200_000, 0), Buffer.alloc(0))), // JSON would be 6 × this as text: base64
    toPhaseResult(outcome(Buffer.alloc(0), Buffer.alloc(0))),
  ];
  assert.deepEqual(phases.map((p) => p.encoding), ['utf8', 'base64', 'utf8', 'utf8', 'base64', 'utf8']);
  const r = result(phases);
  const json = resultJson(r);
  assert.ok(json.equals(asText(r)), 'the bytes differ');
  // And it parses back to the text result.
  assert.deepEqual(JSON.parse(json.toString()).tests[1].stdout, phaseText(phases[3]!).stdout);
  for (let seed = 3; seed < 40; seed++) {
    const one = result([toPhaseResult(outcome(randomText(seed, 1 + seed * 37), randomText(seed + 100, seed)))]);
    assert.ok(resultJson(one).equals(asText(one)), `seed ${seed}`);
  }
});

test('resultJson of a result whose phases are text (a cancel, a result read back) is JSON.stringify\'s', () => {
  const r = result([toPhaseResult(outcome(Buffer.from('a\nb')))]);
  const text = JSON.parse(asText(r).toString()) as RunResult;
  assert.ok(resultJson(text).equals(Buffer.from(JSON.stringify(text))));
  const { checkerCompile: _dropped, ...rest } = text;
  const none: RunResult = { ...rest, compile: null, run: null, tests: null };
  assert.ok(resultJson(none).equals(Buffer.from(JSON.stringify(none))));
});

test('an event\'s preview: the head of the stored text, cut at a character, base64 in whole quanta', () => {
  const max = 64 * 1024;
  // UTF-8 whose cut falls inside a 2-byte character.
  const text = Buffer.from(`${'a'.repeat(max - 1)}é${'b'.repeat(10)}`);
  const p = phasePreview(toPhaseResult(outcome(text)), max);
  assert.deepEqual([p.stdout, p.truncated], ['a'.repeat(max - 1), true]);
  // base64: the first max characters of the whole base64 text.
  const bin = Buffer.alloc(100_000, 0xff);
  const b = phasePreview(toPhaseResult(outcome(bin)), max);
  assert.equal(b.stdout, bin.toString('base64').slice(0, max));
  assert.equal(b.truncated, true);
  // Small: the whole text, not marked.
  const s = phasePreview(toPhaseResult(outcome(Buffer.from('hi'), Buffer.alloc(3 * 1024, 0xfe))), max);
  assert.deepEqual([s.stdout, s.stderr, s.truncated], [Buffer.from('hi').toString('base64'), Buffer.alloc(3 * 1024, 0xfe).toString('base64'), false]);
  // A phase already text is cut the same way.
  assert.deepEqual(phasePreview(phaseText(toPhaseResult(outcome(text))), max), p);
});
