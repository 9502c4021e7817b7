// Callback bodies: Corral's RunResult by default, a face's shape through the formatter registered
// under the job's format name, and a clear, unretried refusal for a format nobody registered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callbackBody, UnknownCallbackFormatError } from '../../worker/callbacks.ts';
import type { CallbackJob } from '../../services/core/callback-queue.ts';
import { FACE_CALLBACK_FORMATS } from '../../bin/faces.ts';
import type { RunResult } from '../../services/core/schemas.ts';

const result: RunResult = {
  id: 'r1', status: 'completed', language: 'python', verdict: 'accepted', compile: null, tests: null, files: [], error: null,
  run: { status: 'ok', limit: null, exitCode: 0, signal: null, stdout: 'hi\n', stderr: '', encoding: 'utf8', truncated: false, cpuMs: 1, wallMs: 2, memoryKb: 100, verdict: 'accepted' },
  createdAt: '2026-01-01T00:00:00.000Z', startedAt: null, finishedAt: '2026-01-01T00:00:01.000Z', queueWaitMs: 0,
};
const job = (format?: string): CallbackJob => ({ url: 'http://127.0.0.1:9/cb', method: 'PUT', result, ...(format ? { format } : {}) });

test('a job without a format, or with corral, sends the RunResult itself', () => {
  assert.equal(callbackBody(job()), result);
  assert.equal(callbackBody(job('corral'), FACE_CALLBACK_FORMATS), result);
});

test('a face format is built by the formatter registered under its name (Judge0: base64 default fields)', () => {
  const body = callbackBody(job('judge0'), FACE_CALLBACK_FORMATS) as Record<string, unknown>;
  assert.equal(body.token, 'r1');
  assert.equal(body.stdout, `${Buffer.from('hi\n').toString('base64')}\n`); // Ruby's Base64.encode64, as Judge0
  assert.deepEqual(body.status, { id: 3, description: 'Accepted' });
});

test('a format no formatter serves is refused with UnknownCallbackFormatError (the dispatcher does not retry it)', () => {
  assert.throws(() => callbackBody(job('judge0'), {}), UnknownCallbackFormatError);
  assert.throws(() => callbackBody(job('nope'), FACE_CALLBACK_FORMATS), /callback format 'nope' is not served/);
});
