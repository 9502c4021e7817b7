// The bridge's wire format, without a container: line splitting under a cap, frame validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeCommand, encodeMessage, FrameError, LineSplitter, LineTooLongError } from '../../worker/sessions/frame-codec.ts';
import { executeRequest, outputOf, parentMsgId } from '../../worker/sessions/jupyter-messages.ts';

const lines = (s: LineSplitter, ...chunks: string[]) => chunks.flatMap((c) => s.push(Buffer.from(c)).map((b) => b.toString()));

test('lines are cut at newlines across chunks, and an unfinished line is held', () => {
  const s = new LineSplitter(100);
  assert.deepEqual(lines(s, 'ab', 'c\nde', 'f\n\ngh'), ['abc', 'def', '']);
  assert.equal(s.heldBytes, 2);
  assert.deepEqual(lines(s, '\n'), ['gh']);
  assert.equal(s.heldBytes, 0);
});

test('a line may be exactly the cap; one byte more throws before its newline arrives', () => {
  const ok = new LineSplitter(4);
  assert.deepEqual(lines(ok, 'ab', 'cd\n'), ['abcd']);
  const over = new LineSplitter(4);
  lines(over, 'abc');
  assert.throws(() => over.push(Buffer.from('de')), LineTooLongError);
  const inOneChunk = new LineSplitter(4);
  assert.throws(() => inOneChunk.push(Buffer.from('12345\n')), LineTooLongError);
});

test('frames: messages and events are validated; anything else is a FrameError', () => {
  const msg = executeRequest('1+1', 'sess');
  // A cell is a request of its own: an error must not make the kernel abort the next one.
  assert.equal(msg.content.stop_on_error, false);
  assert.equal(msg.content.allow_stdin, false);
  const frame = decodeFrame(encodeMessage('shell', msg).trimEnd());
  assert.equal(frame.kind, 'message');
  assert.ok(frame.kind === 'message' && frame.msg.content.code === '1+1' && frame.buffers.length === 0);
  const buf = decodeFrame(encodeMessage('shell', msg, [Buffer.from('bytes')]).trimEnd());
  assert.ok(buf.kind === 'message' && Buffer.from(buf.buffers[0]!, 'base64').toString() === 'bytes');
  const ev = decodeFrame('{"ev":"kernel_exited","code":null,"signal":9,"stderr":"oom"}');
  assert.deepEqual(ev, { kind: 'event', ev: 'kernel_exited', code: null, signal: 9, stderr: 'oom' });
  assert.equal(encodeCommand('interrupt'), '{"cmd":"interrupt"}\n');
  for (const bad of ['', 'null', '"x"', '[]', '{}', '{"ev":"nope"}', '{"ev":"ready","pid":"1"}', '{"ch":"iopub"}',
    '{"ch":"iopub","msg":{"header":{"msg_id":"a","msg_type":"x"},"parent_header":{},"metadata":{},"content":[]}}',
    '{"ch":"iopub","msg":{"header":{"msg_id":"a","msg_type":"x"},"parent_header":{},"metadata":{},"content":{}},"buffers":["not base64!"]}',
    `{"ch":"iopub","msg":{"header":{"msg_id":"${'a'.repeat(300)}","msg_type":"x"},"parent_header":{},"metadata":{},"content":{}}}`]) {
    assert.throws(() => decodeFrame(bad), FrameError, bad);
  }
});

test('outputs: each type checked against its schema; a parent id only when it is a string', () => {
  const at = (msg_type: string, content: Record<string, unknown>) => ({ header: { msg_id: 'm', msg_type }, parent_header: { msg_id: 7 }, metadata: {}, content });
  assert.deepEqual(outputOf(at('stream', { name: 'stdout', text: 'hi' })), { type: 'stream', name: 'stdout', text: 'hi' });
  assert.equal(outputOf(at('stream', { name: 'stdlog', text: 'hi' })), 'invalid');
  assert.deepEqual(outputOf(at('display_data', { data: { 'image/png': 'iVBO' }, transient: { display_id: 'd1' } })),
    { type: 'display_data', data: { 'image/png': 'iVBO' }, metadata: {}, displayId: 'd1' });
  assert.equal(outputOf(at('display_data', { data: { 'no mime': 'x' } })), 'invalid');
  assert.equal(outputOf(at('error', { ename: 'E', evalue: 'v', traceback: 'not a list' })), 'invalid');
  assert.equal(outputOf(at('status', { execution_state: 'idle' })), null);
  assert.equal(outputOf(at('__proto__', {})), null);
  assert.equal(parentMsgId(at('x', {})), undefined);
});
