// A hostile bridge: everything a compromised container could write into the worker's channel.
// Each "bridge" here is a shell script in the busybox image standing in for the kernel bridge; the
// channel must close with the reason's code, at once, without holding more than its caps, and
// leave nothing behind. The real bridge and kernel are in kernel-session.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { Volume } from '../../worker/sandbox/index.ts';
import { ChannelClosedError, KernelChannel, type KernelChannelOptions } from '../../worker/sessions/kernel-channel.ts';
import { executeCell } from '../../worker/sessions/execute-cell.ts';
import { newMessage } from '../../worker/sessions/jupyter-messages.ts';
import { busyboxLayers, createVolume, expectNothingLeftBehind, testHost } from '../helpers/sandbox.ts';

const READY = `echo '{"ev":"ready","kernel_info":{"implementation":"fake"},"pid":2}'`;
const openFds = () => readdirSync('/proc/self/fd').length;

describe('a hostile kernel bridge', () => {
  let layers: string[];
  let volume: Volume;
  let fdsBefore: number;
  const opened: KernelChannel[] = [];

  before(async () => {
    layers = await busyboxLayers();
    volume = await createVolume({ sizeBytes: 8 * 1024 * 1024, host: testHost() });
    fdsBefore = openFds();
  });
  expectNothingLeftBehind('a hostile bridge left something behind');
  after(async () => {
    for (const c of opened) await c.close();
    await volume.destroy();
    assert.equal(openFds(), fdsBefore, 'a pipe end was left open in the worker');
  });

  /** A channel whose bridge is `script` (sh -c); the channel's own flags become $0, $1… */
  function bridge(script: string, options: Partial<KernelChannelOptions> = {}): KernelChannel {
    const c = new KernelChannel({
      layers, box: { dir: volume.dir }, stream: (spec, o) => testHost().stream(spec, o), bridgeArgv: ['/bin/sh', '-c', script],
      limits: { wallMs: 60_000, cpuMs: 30_000 }, startTimeoutMs: 10_000, ...options,
    });
    opened.push(c);
    return c;
  }

  it('a line that is not JSON closes the channel: bad_frame', async () => {
    const c = bridge(`${READY}; echo 'garbage {'; sleep 30`);
    await c.ready;
    const reason = await c.closed;
    assert.equal(reason.code, 'bad_frame');
    assert.match(reason.message, /not JSON/);
    assert.equal(reason.outcome?.status, 'cancelled', 'the container was killed, not waited for');
  });

  it('JSON that is not a valid frame closes the channel: bad_frame', async () => {
    for (const line of ['', '[1,2]', '{"ch":"iopub","msg":{"header":{}}}', '{"ch":"nope","msg":{}}', '{"ev":"ready","pid":-1}', '{"ev":"surprise"}']) {
      const c = bridge(`${READY}; echo '${line}'; sleep 30`);
      const reason = await c.closed;
      assert.equal(reason.code, 'bad_frame', `${line}: ${reason.message}`);
    }
  });

  it('a line over maxLineBytes closes the channel before its end arrives: line_too_long', async () => {
    // 4 MiB without a newline, then a sleep: the channel must not wait for the newline.
    const c = bridge(`${READY}; head -c 4194304 /dev/zero; sleep 30`, { caps: { maxLineBytes: 64 * 1024 } });
    const reason = await c.closed;
    assert.equal(reason.code, 'line_too_long', reason.message);
    assert.ok((reason.outcome?.wallMs ?? 0) < 30_000, 'closed long before the bridge ended by itself');
  });

  it('more frames per second than the cap closes the channel: flood', async () => {
    const c = bridge(`${READY}; while :; do echo '{"ev":"error","message":"x"}'; done`, { caps: { maxFramesPerSecond: 200 } });
    const reason = await c.closed;
    assert.equal(reason.code, 'flood', reason.message);
  });

  it('a flood of well-formed kernel messages is a flood too', async () => {
    const status = '{"ch":"iopub","msg":{"header":{"msg_id":"s","msg_type":"status"},"parent_header":{},"metadata":{},"content":{"execution_state":"busy"}}}';
    const c = bridge(`${READY}; while :; do echo '${status}'; done`, { caps: { maxFramesPerSecond: 200 } });
    const reason = await c.closed;
    assert.equal(reason.code, 'flood', reason.message);
  });

  it('a bridge that never says ready: start_timeout, and ready rejects', async () => {
    const c = bridge('sleep 60', { startTimeoutMs: 500 });
    await assert.rejects(c.ready, (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'start_timeout');
    assert.equal((await c.closed).code, 'start_timeout');
  });

  it('a bridge that stops answering: the cell times out, the restart is never confirmed, the channel closes', async () => {
    const c = bridge(`${READY}; cat > /dev/null`, { startTimeoutMs: 1000 });
    await c.ready;
    await assert.rejects(executeCell(c, '1 + 1', { timeoutMs: 300, interruptGraceMs: 300 }),
      (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'restart_timeout');
    assert.throws(() => c.interrupt(), ChannelClosedError);
  });

  it('a bridge that stops reading its stdin: bounded, then unresponsive', async () => {
    const c = bridge(`${READY}; sleep 60`, { caps: { maxUnansweredBytes: 256 * 1024 } });
    await c.ready;
    const big = newMessage('execute_request', { code: 'x'.repeat(60_000) }, c.session);
    assert.throws(() => { for (let i = 0; i < 100; i++) c.send('shell', big); },
      (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'unresponsive');
    assert.equal((await c.closed).code, 'unresponsive');
  });

  it('more output over the session than maxTotalBytes: sandbox_limit', async () => {
    const c = bridge(`${READY}; while :; do echo '{"ev":"error","message":"${'y'.repeat(1000)}"}'; sleep 0.001; done`,
      { caps: { maxTotalBytes: 200_000 } });
    const reason = await c.closed;
    assert.equal(reason.code, 'sandbox_limit', reason.message);
    assert.equal(reason.outcome?.limit, 'output');
  });

  it('a bridge that exits: bridge_exited, with its stderr tail; a running cell is told', async () => {
    const c = bridge(`${READY}; read line; echo 'bridge: giving up' >&2; exit 3`);
    await c.ready;
    await assert.rejects(executeCell(c, '1'), (err: Error) => err instanceof ChannelClosedError && err.reason.code === 'bridge_exited');
    const reason = await c.closed;
    assert.equal(reason.code, 'bridge_exited');
    assert.equal(reason.outcome?.exitCode, 3);
    assert.equal(reason.stderrTail, 'bridge: giving up\n');
  });

  it('frames(): every frame in order to one reader; one that does not keep up overflows the queue', async () => {
    const ev = (i: number) => `echo '{"ev":"error","message":"${i}"}'`;
    const c = bridge(`${READY}; ${[1, 2, 3].map(ev).join('; ')}; cat > /dev/null`);
    const seen: string[] = [];
    for await (const f of c.frames()) {
      seen.push(f.kind === 'event' ? (f.ev === 'error' ? f.message : f.ev) : f.msg.header.msg_type);
      if (seen.length === 4) break;
    }
    assert.deepEqual(seen, ['ready', '1', '2', '3']);
    assert.equal(c.isClosed, false);
    await c.close();

    const slow = bridge(`${READY}; while :; do echo '{"ev":"error","message":"${'z'.repeat(1000)}"}'; sleep 0.001; done`,
      { caps: { maxQueuedBytes: 100_000 } });
    const reader = slow.frames();
    await reader.next(); // the reader exists, and then takes nothing more
    const reason = await slow.closed;
    assert.equal(reason.code, 'overflow', reason.message);
    // What was queued before the close is still there to read, then the reader ends.
    let left = 0;
    for (let r = await reader.next(); !r.done; r = await reader.next()) left++;
    assert.ok(left > 0 && left <= 100, `${left} frames were queued`);
  });

  it('messages that are valid frames but not valid for their type are ignored, counted, and the cell goes on', async () => {
    // The fake kernel answers the first execute_request: a bad stream, a good one, a reply, idle.
    const script = `${READY}; read line
id=$(echo "$line" | sed 's/.*"msg_id":"\\([^"]*\\)".*/\\1/')
p='"parent_header":{"msg_id":"'$id'"},"metadata":{}'
h() { echo '"header":{"msg_id":"k'$1'","msg_type":"'$2'"}'; }
echo '{"ch":"iopub","msg":{'"$(h 1 stream)"','"$p"',"content":{"name":"stdout","text":5}}}'
echo '{"ch":"iopub","msg":{'"$(h 2 stream)"','"$p"',"content":{"name":"stdout","text":"hi\\n","__proto__":{"polluted":1}}}}'
echo '{"ch":"iopub","msg":{'"$(h 3 display_data)"','"$p"',"content":{"data":{"not a mime":"x"}}}}'
echo '{"ch":"shell","msg":{'"$(h 4 execute_reply)"','"$p"',"content":{"status":"ok","execution_count":7}}}'
echo '{"ch":"iopub","msg":{'"$(h 5 status)"','"$p"',"content":{"execution_state":"idle"}}}'
cat > /dev/null`;
    const c = bridge(script);
    await c.ready;
    const r = await executeCell(c, 'print("hi")');
    assert.equal(r.status, 'ok');
    assert.equal(r.executionCount, 7);
    assert.deepEqual(r.outputs, [{ type: 'stream', name: 'stdout', text: 'hi\n' }]);
    assert.equal(r.invalidMessages, 2);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(c.isClosed, false);
    await c.close();
  });
});
