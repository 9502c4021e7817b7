// The Jupyter face's pure parts: what a client may send, the kernel stream's entries, and the
// kernel list the API keeps (it may not import the worker) against the worker's own table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readClientMessage } from '../../services/api/compat/jupyter/protocol.ts';
import { eventEntry, kernelEntry, NOTEBOOK_KERNELS, parseEntry } from '../../services/core/session-messages.ts';
import { kernelLanguages } from '../../worker/sessions/kernels.ts';

const header = (msgType: string, extra: object = {}) => ({ msg_id: 'm1', msg_type: msgType, session: 's1', username: 'u', date: '2026-01-01T00:00:00Z', version: '5.3', ...extra });
const message = (channel: unknown, msgType: string, extra: object = {}) =>
  JSON.stringify({ channel, header: header(msgType), parent_header: {}, metadata: {}, content: { code: '1' }, ...extra });

describe('Jupyter face: client messages', () => {
  it('takes a request on its channel, header and content as sent', () => {
    const m = readClientMessage(message('shell', 'execute_request'));
    assert.equal(m.kind, 'message');
    if (m.kind !== 'message') return;
    assert.equal(m.channel, 'shell');
    assert.equal(m.msg.header.msg_id, 'm1');
    assert.deepEqual(m.msg.content, { code: '1' });
    assert.equal(readClientMessage(message('stdin', 'input_reply')).kind, 'message');
    assert.equal(readClientMessage(message('control', 'interrupt_request')).kind, 'message');
    assert.equal(readClientMessage(message('control', 'debug_request')).kind, 'message');
  });

  it('reads no channel as shell and a numeric date (Jupyter Server\'s gateway client) as a date', () => {
    const noChannel = JSON.parse(message('shell', 'kernel_info_request')) as Record<string, unknown>;
    delete noChannel.channel;
    assert.equal(readClientMessage(JSON.stringify(noChannel)).kind, 'message');
    const numeric = JSON.stringify({ channel: 'shell', header: header('kernel_info_request', { date: 1796622242.5 }), parent_header: {}, metadata: {}, content: {} });
    assert.equal(readClientMessage(numeric).kind, 'message');
  });

  it('drops unknown channels, types not forwarded, and binary buffers', () => {
    for (const text of [
      message('iopub', 'execute_request'), message('hb', 'ping'), message('shell', 'debug_request'),
      message('shell', 'made_up'), message('stdin', 'execute_request'),
      message('shell', 'comm_msg', { buffers: ['AAAA'] }),
    ]) assert.equal(readClientMessage(text).kind, 'dropped', text);
  });

  it('refuses what is not a Jupyter message', () => {
    for (const text of [
      '', '{', 'null', '[]', '42', JSON.stringify({ channel: 5 }),
      JSON.stringify({ channel: 'shell' }), JSON.stringify({ channel: 'shell', header: { msg_type: 'execute_request', session: 's' } }),
      JSON.stringify({ channel: 'shell', header: header('execute_request', { msg_id: 'x'.repeat(300) }) }),
      JSON.stringify({ channel: 'shell', header: header('execute_request'), content: [] }),
      JSON.stringify({ channel: 'shell', header: header('execute_request'), parent_header: 'p' }),
    ]) assert.equal(readClientMessage(text).kind, 'invalid', text);
  });
});

describe('Jupyter face: kernel stream entries', () => {
  it('carry channel, parent and the message, split without parsing the message', () => {
    const text = '{"a":"tab\\there"}';
    assert.deepEqual(parseEntry(kernelEntry('iopub', 'p-1', text)), { kind: 'message', channel: 'iopub', parent: 'p-1', text });
    assert.deepEqual(parseEntry(kernelEntry('shell', undefined, text)), { kind: 'message', channel: 'shell', parent: '', text });
  });

  it('never let a hostile parent id route a message (tabs, newlines, length)', () => {
    for (const bad of ['a\tb', 'a\nb', 'x'.repeat(257)]) {
      assert.deepEqual(parseEntry(kernelEntry('shell', bad, '{}')), { kind: 'message', channel: 'shell', parent: '', text: '{}' });
    }
  });

  it('carry events', () => {
    assert.deepEqual(parseEntry(eventEntry('ended', { reason: 'closed' })), { kind: 'event', event: 'ended', details: '{"reason":"closed"}' });
    assert.equal(parseEntry('no tabs'), null);
  });
});

describe('Jupyter face: kernelspecs', () => {
  it('offers exactly the languages the worker has a kernel for', () => {
    assert.deepEqual(NOTEBOOK_KERNELS.map((k) => k.language).sort(), kernelLanguages().sort());
  });
});

describe('Jupyter face: the v1 binary protocol, against @jupyterlab/services\' own codec', async () => {
  const { serialize, deserialize } = await import('@jupyterlab/services/lib/kernel/serialize.js');
  const { readV1Message, toV1Frame, V1_PROTOCOL } = await import('../../services/api/compat/jupyter/protocol.ts');
  const msg = { channel: 'shell', header: header('execute_request'), parent_header: {}, metadata: { m: 1 }, content: { code: 'print("é")' }, buffers: [] };

  it('reads what the client library writes', () => {
    const frame = Buffer.from(serialize(msg as never, V1_PROTOCOL) as ArrayBuffer);
    const m = readV1Message(frame);
    assert.equal(m.kind, 'message');
    if (m.kind !== 'message') return;
    assert.equal(m.channel, 'shell');
    assert.deepEqual(m.msg.content, { code: 'print("é")' });
    assert.deepEqual(m.msg.metadata, { m: 1 });
  });

  it('writes what the client library reads', () => {
    const frame = toV1Frame(JSON.stringify({ ...msg, channel: 'iopub' }))!;
    const back = deserialize(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length) as ArrayBuffer, V1_PROTOCOL) as unknown as Record<string, unknown>;
    assert.equal(back.channel, 'iopub');
    assert.deepEqual(back.header, msg.header);
    assert.deepEqual(back.content, msg.content);
  });

  it('refuses frames whose offsets do not fit', () => {
    const good = Buffer.from(serialize(msg as never, V1_PROTOCOL) as ArrayBuffer);
    const bad = Buffer.from(good);
    bad.writeBigUInt64LE(BigInt(good.length + 10), 8 * 3);
    assert.equal(readV1Message(bad).kind, 'invalid');
    const count = Buffer.from(good);
    count.writeBigUInt64LE(10_000n, 0);
    assert.equal(readV1Message(count).kind, 'invalid');
    assert.equal(readV1Message(Buffer.alloc(4)).kind, 'invalid');
    // The last offset is the frame's end: trailing bytes are not a part.
    assert.equal(readV1Message(Buffer.concat([good, Buffer.from([1])])).kind, 'invalid');
  });

  it('carries buffers both ways, byte for byte', () => {
    const bytes = [Uint8Array.from([0, 1, 2, 255]), new Uint8Array(0), Uint8Array.from({ length: 1000 }, (_, i) => i % 251)];
    const withBuffers = { ...msg, header: header('comm_msg'), buffers: bytes.map((b) => new DataView(b.buffer)) };
    const m = readV1Message(Buffer.from(serialize(withBuffers as never, V1_PROTOCOL) as ArrayBuffer));
    assert.equal(m.kind, 'message');
    if (m.kind !== 'message') return;
    assert.deepEqual(m.buffers.map((b) => [...b]), bytes.map((b) => [...b]));
    const text = JSON.stringify({ ...msg, buffers: bytes.map((b) => Buffer.from(b).toString('base64')), channel: 'iopub' });
    const frame = toV1Frame(text)!;
    const back = deserialize(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length) as ArrayBuffer, V1_PROTOCOL) as unknown as { buffers: DataView[]; content: unknown };
    assert.deepEqual(back.content, msg.content);
    assert.deepEqual(back.buffers.map((d) => [...new Uint8Array(d.buffer, d.byteOffset, d.byteLength)]), bytes.map((b) => [...b]));
  });
});

describe('Jupyter face: the JSON form\'s binary frames (Jupyter Server 1.x), against @jupyterlab/services\' own codec', async () => {
  const { serialize, deserialize } = await import('@jupyterlab/services/lib/kernel/serialize.js');
  const { hasBuffers, readLegacyBinaryMessage, toLegacyBinaryFrame } = await import('../../services/api/compat/jupyter/protocol.ts');
  const bytes = [Uint8Array.from([0, 1, 2, 255]), Uint8Array.from({ length: 300 }, (_, i) => 255 - (i % 256))];
  const msg = { channel: 'shell', header: header('comm_msg'), parent_header: {}, metadata: {}, content: { comm_id: 'c1', data: { x: 'é' } } };
  const arrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;

  it('reads what the client library writes for a message with buffers (no subprotocol)', () => {
    const sent = serialize({ ...msg, buffers: bytes.map((b) => new DataView(b.buffer)) } as never);
    assert.ok(sent instanceof ArrayBuffer, 'the client sends a message with buffers as a binary frame');
    const m = readLegacyBinaryMessage(Buffer.from(sent));
    assert.equal(m.kind, 'message');
    if (m.kind !== 'message') return;
    assert.equal(m.channel, 'shell');
    assert.deepEqual(m.msg.content, msg.content);
    assert.deepEqual(m.buffers.map((b) => [...b]), bytes.map((b) => [...b]));
  });

  it('writes what the client library reads', () => {
    const text = JSON.stringify({ buffers: bytes.map((b) => Buffer.from(b).toString('base64')), ...msg, channel: 'iopub', msg_id: 'm1', msg_type: 'comm_msg' });
    assert.equal(hasBuffers(text), true);
    assert.equal(hasBuffers(JSON.stringify({ buffers: [], ...msg })), false);
    assert.equal(hasBuffers(JSON.stringify({ ...msg, content: { buffers: ['x'] } })), false);
    const back = deserialize(arrayBuffer(toLegacyBinaryFrame(text)!)) as unknown as { channel: string; content: unknown; buffers: DataView[] };
    assert.equal(back.channel, 'iopub');
    assert.deepEqual(back.content, msg.content);
    assert.deepEqual(back.buffers.map((d) => [...new Uint8Array(d.buffer, d.byteOffset, d.byteLength)]), bytes.map((b) => [...b]));
  });

  it('refuses frames whose parts do not fit, and buffers in a text frame', () => {
    const good = Buffer.from(serialize({ ...msg, buffers: bytes.map((b) => new DataView(b.buffer)) } as never) as ArrayBuffer);
    const past = Buffer.from(good);
    past.writeUInt32BE(good.length + 1, 8);
    assert.equal(readLegacyBinaryMessage(past).kind, 'invalid');
    const count = Buffer.from(good);
    count.writeUInt32BE(100_000, 0);
    assert.equal(readLegacyBinaryMessage(count).kind, 'invalid');
    const backwards = Buffer.from(good);
    backwards.writeUInt32BE(2, 4);
    assert.equal(readLegacyBinaryMessage(backwards).kind, 'invalid');
    assert.equal(readLegacyBinaryMessage(Buffer.alloc(3)).kind, 'invalid');
    assert.equal(readClientMessage(JSON.stringify({ ...msg, buffers: ['AAAA'] })).kind, 'dropped');
  });
});
