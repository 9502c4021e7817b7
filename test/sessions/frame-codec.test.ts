// The bridge's wire format, without a container: line splitting under a cap, frame validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeFrame, encodeCommand, encodeMessage, FrameError, LineSplitter, LineTooLongError, messageFrameSchema, plainMessageFrame,
} from '../../worker/sessions/frame-codec.ts';
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

test('frames: the plain path decodes exactly what the schema accepts, to the same value, and nothing it refuses', () => {
  const header = { msg_id: 'm1', msg_type: 'execute_result', session: 's', username: 'u', date: '2026-12-07T14:00:00.000000Z', version: '5.3' };
  const msg = { header, parent_header: { msg_id: 'p1', msg_type: 'execute_request' }, metadata: { a: 1 }, content: { data: { 'text/plain': '2' }, execution_count: 1 } };
  const frame = { ch: 'iopub', msg, buffers: [] as string[] };
  const edit = (f: (o: any) => void) => {
    const o = JSON.parse(JSON.stringify(frame));
    f(o);
    return o;
  };
  const valid = [
    frame,
    edit((o) => { delete o.buffers; }),
    edit((o) => { o.buffers = ['AAAA', 'aGk=', '']; }),
    edit((o) => { o.buffers = Array(64).fill('QQ=='); }),
    edit((o) => { o.extra = 1; o.msg.extra = { x: 1 }; o.msg.header.extra = 'dropped'; o.msg.header.subshell_id = null; }),
    edit((o) => { o.msg.header = { msg_id: '', msg_type: 'x' }; }),
    edit((o) => { o.msg.header.msg_id = 'i'.repeat(256); o.msg.header.msg_type = 't'.repeat(128); o.msg.header.version = 'v'.repeat(32); o.msg.header.date = 'd'.repeat(64); }),
    edit((o) => { o.msg.parent_header = {}; o.msg.content = {}; o.msg.metadata = {}; }),
    ...['shell', 'control', 'stdin', 'iopub'].map((ch) => edit((o) => { o.ch = ch; })),
  ];
  const invalid = [
    {},
    edit((o) => { o.ch = 'hb'; }),
    edit((o) => { o.ch = 1; }),
    edit((o) => { delete o.ch; }),
    edit((o) => { o.msg = []; }),
    edit((o) => { o.msg = null; }),
    edit((o) => { delete o.msg.header; }),
    edit((o) => { o.msg.header = []; }),
    edit((o) => { o.msg.parent_header = null; }),
    edit((o) => { o.msg.parent_header = []; }),
    edit((o) => { delete o.msg.metadata; }),
    edit((o) => { o.msg.content = 'x'; }),
    edit((o) => { o.msg.header.msg_id = 1; }),
    edit((o) => { delete o.msg.header.msg_id; }),
    edit((o) => { o.msg.header.msg_type = ''; }),
    edit((o) => { o.msg.header.msg_id = 'i'.repeat(257); }),
    edit((o) => { o.msg.header.msg_type = 't'.repeat(129); }),
    edit((o) => { o.msg.header.session = null; }),
    edit((o) => { o.msg.header.username = 'u'.repeat(257); }),
    edit((o) => { o.msg.header.date = 'd'.repeat(65); }),
    edit((o) => { o.msg.header.version = 5.3; }),
    edit((o) => { o.buffers = null; }),
    edit((o) => { o.buffers = 'AAAA'; }),
    edit((o) => { o.buffers = ['not base64!']; }),
    edit((o) => { o.buffers = [1]; }),
    edit((o) => { o.buffers = Array(65).fill('QQ=='); }),
  ];
  for (const v of valid) {
    const z = messageFrameSchema.safeParse(v);
    assert.ok(z.success, `the schema accepts ${JSON.stringify(v).slice(0, 200)}`);
    const plain = plainMessageFrame(v);
    assert.ok(plain, `the plain path takes ${JSON.stringify(v).slice(0, 200)}`);
    assert.deepStrictEqual(plain, z.data);
    assert.deepStrictEqual(decodeFrame(JSON.stringify(v)), { kind: 'message', ...z.data });
  }
  for (const v of invalid) {
    assert.equal(messageFrameSchema.safeParse(v).success, false, `the schema refuses ${JSON.stringify(v).slice(0, 200)}`);
    assert.equal(plainMessageFrame(v), undefined, `the plain path refuses ${JSON.stringify(v).slice(0, 200)}`);
    assert.throws(() => decodeFrame(JSON.stringify(v)), FrameError);
  }
});
