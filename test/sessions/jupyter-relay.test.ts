// The worker's Jupyter relay (worker/sessions/message-relay.ts) answering kernel_info_request on
// the kernel's behalf, against a stand-in for the kernel channel that records what is sent to the
// kernel and plays the kernel's frames: the relay's own decisions, one by one. The same with the
// real ipykernel in the sandbox is in test/e2e/jupyter.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../services/core/logger.ts';
import { parseEntry } from '../../services/core/session-messages.ts';
import type { BridgeFrame, JupyterMessage, MessageHeader } from '../../worker/sessions/frame-codec.ts';
import type { KernelChannel, KernelInfo } from '../../worker/sessions/kernel-channel.ts';
import { MessageRelay, type RelayHost } from '../../worker/sessions/message-relay.ts';

const INFO: Record<string, unknown> = {
  status: 'ok', protocol_version: '5.3', implementation: 'ipython', implementation_version: '8.5.0',
  language_info: { name: 'python', version: '3.11.2' }, banner: 'the first kernel', help_links: [],
};

/** What the relay uses of a KernelChannel; frames are played with `emit`. */
class StandInChannel {
  readonly session = 'worker-session';
  readonly isClosed = false;
  kernelExit: KernelChannel['kernelExit'] = undefined;
  kernelInfo: KernelInfo | undefined = { kernelInfo: INFO };
  kernelHeader: MessageHeader | undefined = { msg_id: 'k0', msg_type: 'execute_reply', session: 'kernel-1', username: 'root', version: '5.3' };
  readonly sent: Array<{ ch: string; msg: JupyterMessage }> = [];
  private listener: ((frame: BridgeFrame) => void) | undefined;
  subscribe(listener: (frame: BridgeFrame) => void) {
    this.listener = listener;
    return () => {};
  }
  onClose() {
    return () => {};
  }
  send(ch: string, msg: JupyterMessage) {
    this.sent.push({ ch, msg });
  }
  emit(frame: BridgeFrame) {
    if (frame.kind === 'message') this.kernelHeader = frame.msg.header;
    this.listener?.(frame);
  }
}

async function relayWith(channel: StandInChannel) {
  const entries: string[] = [];
  const host: RelayHost = {
    kernelChannel: async () => channel as unknown as KernelChannel,
    touch: () => {},
    hold: () => () => {},
    restartKernel: async () => ({}),
    end: () => {},
  };
  const relay = new MessageRelay({ host, append: (e) => entries.push(e), log: createLogger('silent') });
  relay.receive(JSON.stringify({ t: 'kattach' }));
  await new Promise((r) => setImmediate(r));
  return { relay, entries };
}

let n = 0;
function clientMessage(msgType: string, ch = 'shell', content: Record<string, unknown> = {}) {
  const header = { msg_id: `client-${++n}`, msg_type: msgType, session: 'client-session', username: 'someone', date: '2026-01-01T00:00:00.000Z', version: '5.3', subshell_id: null };
  return { header, text: JSON.stringify({ t: 'kmsg', ch, msg: { header, parent_header: {}, metadata: {}, content } }) };
}

/** The kernel's iopub status for a request. */
function status(state: 'busy' | 'idle', parent: { msg_id: string }): BridgeFrame {
  return {
    kind: 'message', ch: 'iopub', buffers: [],
    msg: { header: { msg_id: `s-${++n}`, msg_type: 'status', session: 'kernel-1', username: 'root', version: '5.3' }, parent_header: parent, metadata: {}, content: { execution_state: state } },
  };
}

/** The relay's entries as (channel, message) pairs. */
function messagesOf(entries: string[]) {
  return entries.map((e) => {
    const p = parseEntry(e);
    assert.ok(p && p.kind === 'message', e);
    return { channel: p.channel, parent: p.parent, msg: JSON.parse(p.text) };
  });
}

describe('the Jupyter relay answers kernel_info_request for the kernel', () => {
  it('with the status busy, the reply and the status idle, each with the request as parent, in the kernel\'s session; nothing goes to the kernel', async () => {
    const channel = new StandInChannel();
    const { relay, entries } = await relayWith(channel);
    for (const ch of ['shell', 'control'] as const) {
      entries.length = 0;
      const req = clientMessage('kernel_info_request', ch);
      relay.receive(req.text);
      const out = messagesOf(entries);
      assert.deepEqual(out.map((m) => [m.channel, m.msg.header.msg_type, m.msg.content.execution_state]), [
        ['iopub', 'status', 'busy'], [ch, 'kernel_info_reply', undefined], ['iopub', 'status', 'idle'],
      ]);
      for (const m of out) {
        assert.equal(m.parent, req.header.msg_id, 'routed to the connection that asked');
        assert.deepEqual(m.msg.parent_header, req.header, 'the request\'s whole header, as the client sent it');
        assert.equal(m.msg.channel, m.channel);
        assert.equal(m.msg.header.session, 'kernel-1', 'the kernel\'s session, not the worker\'s');
        assert.equal(m.msg.header.username, 'root');
        assert.equal(m.msg.header.version, '5.3');
        assert.equal(m.msg.msg_id, m.msg.header.msg_id);
        assert.equal(m.msg.msg_type, m.msg.header.msg_type);
        assert.deepEqual(m.msg.metadata, {});
        assert.deepEqual(m.msg.buffers, []);
      }
      assert.deepEqual(out[1]!.msg.content, INFO);
      assert.equal(new Set(out.map((m) => m.msg.header.msg_id)).size, 3);
    }
    assert.deepEqual(channel.sent, []);
  });

  it('sends it to the kernel while the kernel has a request in hand, and answers it again once the kernel says idle', async () => {
    const channel = new StandInChannel();
    const { relay, entries } = await relayWith(channel);
    const cell = clientMessage('execute_request', 'shell', { code: 'import time; time.sleep(1)' });
    relay.receive(cell.text);
    const info = clientMessage('kernel_info_request');
    relay.receive(info.text);
    assert.deepEqual(channel.sent.map((s) => s.msg.header.msg_type), ['execute_request', 'kernel_info_request'], 'behind the cell, in order');
    assert.deepEqual(entries, []);
    // The kernel's busy and idle for the cell, then for the kernel_info it was sent.
    channel.emit(status('busy', cell.header));
    channel.emit(status('idle', cell.header));
    channel.emit(status('busy', info.header));
    channel.emit(status('idle', info.header));
    entries.length = 0;
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 2, 'the kernel has nothing in hand now: answered by the relay');
    assert.deepEqual(messagesOf(entries).map((m) => m.msg.header.msg_type), ['status', 'kernel_info_reply', 'status']);
  });

  it('sends it to the kernel while the kernel said busy (a cell of the v1 API) and not yet idle', async () => {
    const channel = new StandInChannel();
    const { relay } = await relayWith(channel);
    const v1Cell = { msg_id: 'worker-cell' };
    channel.emit(status('busy', v1Cell));
    relay.receive(clientMessage('kernel_info_request').text);
    assert.deepEqual(channel.sent.map((s) => s.msg.header.msg_type), ['kernel_info_request']);
    channel.emit(status('idle', v1Cell));
    const asked = channel.sent[0]!.msg.header;
    channel.emit(status('busy', asked));
    channel.emit(status('idle', asked));
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 1, 'the kernel is idle and has nothing in hand: answered by the relay');
  });

  it('sends it to the kernel while the kernel\'s session is not known (no message from it yet), or its info is not', async () => {
    const channel = new StandInChannel();
    channel.kernelHeader = undefined;
    const { relay } = await relayWith(channel);
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 1);
    channel.kernelHeader = { msg_id: 'k1', msg_type: 'status', session: 'kernel-1' };
    channel.kernelInfo = { kernelInfo: {} };
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 2, 'no protocol_version: not a kernel_info to answer with');
  });

  it('answers with the restarted kernel\'s info and session, and sends it to the kernel until that session is known', async () => {
    const channel = new StandInChannel();
    const { relay, entries } = await relayWith(channel);
    const before = clientMessage('execute_request', 'shell', { code: '1' });
    relay.receive(before.text); // in hand when the kernel restarts: it never says idle
    const restartedInfo = { ...INFO, banner: 'the restarted kernel' };
    channel.kernelInfo = { kernelInfo: restartedInfo };
    channel.kernelHeader = undefined;
    channel.emit({ kind: 'event', ev: 'restarted', kernel_info: restartedInfo });
    relay.receive(clientMessage('kernel_info_request').text);
    assert.deepEqual(channel.sent.map((s) => s.msg.header.msg_type), ['execute_request', 'kernel_info_request'], 'the new kernel\'s session is not known yet');
    // The new kernel answers that request (its session known now).
    const asked = channel.sent[1]!.msg.header;
    channel.emit({ kind: 'message', ch: 'iopub', buffers: [], msg: { header: { msg_id: 'r1', msg_type: 'status', session: 'kernel-2', username: 'root', version: '5.3' }, parent_header: asked, metadata: {}, content: { execution_state: 'busy' } } });
    channel.emit({ kind: 'message', ch: 'iopub', buffers: [], msg: { header: { msg_id: 'r2', msg_type: 'status', session: 'kernel-2', username: 'root', version: '5.3' }, parent_header: asked, metadata: {}, content: { execution_state: 'idle' } } });
    entries.length = 0;
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 2, 'answered by the relay: the request in hand before the restart is not the new kernel\'s');
    const out = messagesOf(entries);
    assert.deepEqual(out[1]!.msg.content, restartedInfo);
    for (const m of out) assert.equal(m.msg.header.session, 'kernel-2');
  });

  it('holds it while the relay restarts the kernel, and sends it to the new kernel', async () => {
    const channel = new StandInChannel();
    let restarted!: () => void;
    const entries: string[] = [];
    const host: RelayHost = {
      kernelChannel: async () => channel as unknown as KernelChannel,
      touch: () => {},
      hold: () => () => {},
      restartKernel: () => new Promise((resolve) => { restarted = () => resolve({}); }),
      end: () => {},
    };
    const relay = new MessageRelay({ host, append: (e) => entries.push(e), log: createLogger('silent') });
    relay.receive(JSON.stringify({ t: 'kattach' }));
    await new Promise((r) => setImmediate(r));
    channel.emit({ kind: 'event', ev: 'kernel_exited', code: null, signal: 9 });
    channel.kernelHeader = undefined;
    relay.receive(clientMessage('kernel_info_request').text);
    assert.equal(channel.sent.length, 0, 'held');
    assert.ok(!entries.some((e) => e.includes('kernel_info_reply')), 'not answered for a kernel that is not there');
    channel.emit({ kind: 'event', ev: 'restarted', kernel_info: INFO });
    restarted();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(channel.sent.map((s) => s.msg.header.msg_type), ['kernel_info_request']);
  });
});

describe('the Jupyter relay\'s answers for the kernel are bounded', () => {
  it('counts a kernel_info the kernel made big against the relay\'s byte rate: past it, the request goes to the kernel', async () => {
    const channel = new StandInChannel();
    channel.kernelInfo = { kernelInfo: { ...INFO, banner: 'x'.repeat(5 * 1024 * 1024) } };
    const { relay, entries } = await relayWith(channel);
    for (let i = 0; i < 12; i++) {
      const req = clientMessage('kernel_info_request');
      relay.receive(req.text);
      // Each answered one is idle at once; each sent one the kernel would answer with busy/idle.
      const sent = channel.sent.at(-1);
      if (sent?.msg.header.msg_id === req.header.msg_id) {
        channel.emit(status('busy', req.header));
        channel.emit(status('idle', req.header));
      }
    }
    const answered = messagesOf(entries).filter((m) => m.msg.header.msg_type === 'kernel_info_reply').length;
    assert.ok(answered >= 1 && answered <= 6, `${answered} answered by the relay: at most its burst (24 MiB) of 5 MiB replies`);
    assert.equal(answered + channel.sent.length, 12);
  });
});
