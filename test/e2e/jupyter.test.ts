// The Jupyter face end to end (docs/compat.md) with real clients nobody here wrote: npm's
// @jupyterlab/services, and Debian's jupyter-server (--gateway-url at Corral) driven by Debian's
// nbclient. The stack is real: HTTP, redis-server, the worker with the real sandbox and the
// python image's ipykernel. Skipped with the reason when the sandbox or the python image is not
// usable here, or a Debian client is not installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KernelManager, KernelSpecManager, ServerConnection, type Kernel, type KernelMessage } from '@jupyterlab/services';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { CLIENT_PUBLISH_MAX_BYTES } from '../../services/core/session-messages.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# jupyter tests skipped: ${skip}`);
const real = sb as RealSandbox;
const NB_RUNNER = fileURLToPath(new URL('./jupyter-nbclient-runner.py', import.meta.url));
const API_KEY = 'jupyter-test-key';

const ENV = {
  CORRAL_SESSION_SLOTS: '2',
  CORRAL_SESSION_WORKER_SILENCE_MS: '4000',
  CORRAL_SESSION_QUEUE_WAIT_MS: '3000',
  CORRAL_SESSION_START_TIMEOUT_MS: '120000',
  CORRAL_API_KEYS: API_KEY,
};

function settings(s: Stack, token = API_KEY): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: `${s.url}/`,
    wsUrl: `${s.url.replace(/^http/, 'ws')}/`,
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
}

/** Runs a cell; resolves with the reply and every iopub message of the cell. */
async function run(kernel: Kernel.IKernelConnection, code: string, opts: { stdin?: (prompt: string) => string } = {}) {
  const iopub: KernelMessage.IIOPubMessage[] = [];
  const future = kernel.requestExecute({ code, allow_stdin: !!opts.stdin, stop_on_error: false });
  future.onIOPub = (msg) => { iopub.push(msg); };
  if (opts.stdin) {
    future.onStdin = (msg) => {
      if (msg.header.msg_type === 'input_request') {
        future.sendInputReply({ status: 'ok', value: opts.stdin!((msg.content as { prompt: string }).prompt) }, msg.header as never);
      }
    };
  }
  const reply = await future.done as KernelMessage.IExecuteReplyMsg;
  return { reply, iopub };
}
/** Resolves once the kernel's WebSocket is connected (startNew resolves before). */
async function connected(kernel: Kernel.IKernelConnection): Promise<void> {
  if (kernel.connectionStatus === 'connected') return;
  await new Promise<void>((resolve) => {
    const on = (_: unknown, status: Kernel.ConnectionStatus) => {
      if (status !== 'connected') return;
      kernel.connectionStatusChanged.disconnect(on);
      resolve();
    };
    kernel.connectionStatusChanged.connect(on);
  });
}
const of = (iopub: KernelMessage.IIOPubMessage[], type: string) => iopub.filter((m) => m.header.msg_type === type);
const stdoutOf = (iopub: KernelMessage.IIOPubMessage[]) => of(iopub, 'stream').map((m) => (m.content as { text: string }).text).join('');
const resultOf = (iopub: KernelMessage.IIOPubMessage[]) => (of(iopub, 'execute_result')[0]?.content as { data: Record<string, string> } | undefined)?.data['text/plain'];

/**
 * Sets some state, runs `deadly` (a cell that kills the kernel process), and checks what a
 * Jupyter Server's autorestart gives: the client hears `restarting` (→ autorestarting), reconnects,
 * comes back to idle without a `dead`, the cell's future is cancelled, and the next cell runs on a
 * fresh kernel (the state is gone).
 */
async function diesAndComesBack(kernel: Kernel.IKernelConnection, deadly: string): Promise<void> {
  assert.equal(resultOf((await run(kernel, 'import os\nstate = 7\nstate')).iopub), '7');
  const statuses: Kernel.Status[] = [];
  const back = new Promise<void>((resolve) => {
    const on = (_: unknown, status: Kernel.Status) => {
      statuses.push(status);
      if (status === 'idle' && statuses.includes('autorestarting')) {
        kernel.statusChanged.disconnect(on);
        resolve();
      }
    };
    kernel.statusChanged.connect(on);
  });
  const dying = kernel.requestExecute({ code: deadly }).done.then(() => 'replied', (err: Error) => err.message);
  await back;
  assert.match(await dying, /Canceled future/, 'the dead cell\'s future is cancelled, not answered');
  assert.ok(!statuses.includes('dead'), statuses.join(' '));
  const r = await run(kernel, 'try:\n    state\n    print("still")\nexcept NameError:\n    print("gone")');
  assert.equal(r.reply.content.status, 'ok');
  assert.equal(stdoutOf(r.iopub), 'gone\n', 'the next cell ran on a fresh kernel');
}

/** A raw client of the JSON form on a kernel's WebSocket; ask() resolves with every message whose parent is its request, once the given reply types and the idle status have come. */
async function rawConnection(s: Stack, kernelId: string) {
  const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/kernels/${kernelId}/channels?token=${API_KEY}`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let seq = 0;
  let n = 0;
  const ask = (msgType: string, content: object, channel: string, replies: string[]) => {
    const header = { msg_id: `raw-${++n}-${Date.now()}`, msg_type: msgType, session: 'raw-client', username: 'test', date: new Date().toISOString(), version: '5.3' };
    return new Promise<{ header: typeof header; messages: any[] }>((resolve, reject) => {
      const messages: any[] = [];
      const timer = setTimeout(() => { ws.off('message', on); reject(new Error(`${msgType}: no ${replies.join(', ')} and idle within 30 s; got ${messages.map((m) => m.header.msg_type).join(' ')}`)); }, 30_000);
      const on = (data: WebSocket.RawData) => {
        const m = JSON.parse(data.toString());
        m.seq = ++seq;
        if (m.parent_header?.msg_id !== header.msg_id) return;
        messages.push(m);
        const has = (type: string, state?: string) => messages.some((x) => x.header.msg_type === type && (state === undefined || x.content.execution_state === state));
        if (replies.every((r) => has(r)) && has('status', 'idle')) {
          clearTimeout(timer);
          ws.off('message', on);
          resolve({ header, messages });
        }
      };
      ws.on('message', on);
      ws.send(JSON.stringify({ channel, header, parent_header: {}, metadata: {}, content }));
    });
  };
  return { ask, close: () => ws.close() };
}

/** Bytes 0..n-1 mod 256, shifted by `seed`: every value, in a known order. */
const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i + seed) % 256);
const bytesOf = (b: DataView | ArrayBuffer | ArrayBufferView) => (b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));

/**
 * A comm the kernel opens sends buffers to the client (on open and in a message), and a comm the
 * client opens sends buffers the kernel echoes back reversed: every byte checked both ways.
 */
async function commBuffers(kernel: Kernel.IKernelConnection, tag: string): Promise<void> {
  const target = `corral-to-client-${tag}`;
  const received = new Promise<{ open: KernelMessage.ICommOpenMsg; msg: KernelMessage.ICommMsgMsg }>((resolve) => {
    kernel.registerCommTarget(target, (comm, open) => {
      comm.onMsg = (msg) => resolve({ open, msg });
    });
  });
  const r = await run(kernel, `from ipykernel.comm import Comm\nc = Comm(target_name="${target}", data={"hello": 1}, buffers=[bytes(range(256))])\n`
    + 'c.send(data={"n": 2}, buffers=[bytes((i + 7) % 256 for i in range(100000)), b""])');
  assert.equal(r.reply.content.status, 'ok', JSON.stringify(r.reply.content));
  const { open, msg } = await received;
  assert.deepEqual(open.content.data, { hello: 1 });
  assert.deepEqual((open.buffers ?? []).map((b) => [...bytesOf(b)]), [[...pattern(256, 0)]]);
  assert.deepEqual(msg.content.data, { n: 2 });
  assert.equal(msg.buffers?.length, 2);
  assert.deepEqual(bytesOf(msg.buffers![0]!), pattern(100000, 7));
  assert.equal(bytesOf(msg.buffers![1]!).length, 0);

  const echo = await run(kernel, 'def _echo(comm, open_msg):\n    @comm.on_msg\n    def _(msg):\n'
    + '        comm.send(data={"got": len(msg["buffers"])}, buffers=[bytes(b)[::-1] for b in msg["buffers"]])\n'
    + `get_ipython().kernel.comm_manager.register_target("corral-echo-${tag}", _echo)`);
  assert.equal(echo.reply.content.status, 'ok', JSON.stringify(echo.reply.content));
  const comm = kernel.createComm(`corral-echo-${tag}`);
  const echoed = new Promise<KernelMessage.ICommMsgMsg>((resolve) => { comm.onMsg = resolve; });
  await comm.open({}).done;
  const sent = [pattern(6, 250), pattern(300000, 3)];
  comm.send({ x: 1 }, undefined, sent);
  const back = await echoed;
  assert.deepEqual(back.content.data, { got: 2 });
  assert.deepEqual((back.buffers ?? []).map((b) => bytesOf(b)), sent.map((b) => Uint8Array.from(b).reverse()));
  comm.close();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

describe('the Jupyter face (real ipykernel in the sandbox)', { skip }, () => {
  let s: Stack;
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a Jupyter kernel left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: ENV });
  });

  describe('@jupyterlab/services', () => {
    let km: KernelManager;
    let kernel: Kernel.IKernelConnection;
    before(async () => {
      km = new KernelManager({ serverSettings: settings(s) });
      await km.ready;
      kernel = await km.startNew({ name: 'python3' });
      await connected(kernel);
    });
    after(async () => {
      km?.dispose();
    });

    it('lists the kernelspecs', async () => {
      const specs = new KernelSpecManager({ serverSettings: settings(s) });
      await specs.ready;
      assert.equal(specs.specs?.default, 'python3');
      assert.equal(specs.specs?.kernelspecs.python3?.language, 'python');
      specs.dispose();
    });

    it('answers kernel_info and keeps state across cells', async () => {
      const info = await kernel.requestKernelInfo();
      assert.equal(info?.content.status, 'ok');
      assert.equal((info?.content as KernelMessage.IInfoReply).language_info.name, 'python');
      let r = await run(kernel, 'import math\nx = 41');
      assert.equal(r.reply.content.status, 'ok');
      r = await run(kernel, 'print("side", flush=True)\nx + 1');
      assert.equal(r.reply.content.status, 'ok');
      assert.equal(resultOf(r.iopub), '42');
      assert.equal(stdoutOf(r.iopub), 'side\n');
      assert.ok(of(r.iopub, 'execute_input').length === 1, 'execute_input is relayed');
      assert.deepEqual(of(r.iopub, 'status').map((m) => (m.content as { execution_state: string }).execution_state), ['busy', 'idle']);
      for (const m of r.iopub) assert.equal(m.parent_header && (m.parent_header as { msg_id: string }).msg_id, r.reply.parent_header.msg_id, 'every iopub message names the request as its parent');
    });

    // With the kernel's worker in this process (the harness's stack, CORRAL_SESSION_LOCAL_PATH on), a
    // connection opened on a ready kernel hands its messages over directly, whatever their size:
    // the Redis relay's way (test/e2e/sessions-local-jupyter.test.ts, the switch off) is not taken.
    it('passes client messages to the worker (by publish, or directly in one process); a big one by the session\'s stream on the relay, and the later ones with it, in order', async () => {
      const local = s.config.sessions.localPath;
      const redis = new Redis({ path: s.redis.socketPath });
      try {
        const keys = sessionKeys(s.config.keyPrefix);
        // kernel_info and the cells so far were published: no input stream, the session not moved to it.
        assert.equal(await redis.exists(keys.input(kernel.id)), 0, 'a client message was appended to the input stream');
        assert.equal(await redis.hget(keys.record(kernel.id), 'viaStream'), null);
        // A cell over the publish bound, and one sent right behind it (before the first is answered).
        const big = kernel.requestExecute({ code: `big = "${'y'.repeat(CLIENT_PUBLISH_MAX_BYTES)}"\nlen(big)`, stop_on_error: false });
        const bigOut: KernelMessage.IIOPubMessage[] = [];
        big.onIOPub = (msg) => { bigOut.push(msg); };
        const next = run(kernel, 'len(big) + 1');
        assert.equal((await big.done).content.status, 'ok');
        assert.equal(resultOf(bigOut), String(CLIENT_PUBLISH_MAX_BYTES));
        const after = await next;
        assert.equal(after.reply.content.status, 'ok');
        assert.equal(resultOf(after.iopub), String(CLIENT_PUBLISH_MAX_BYTES + 1), 'the cell behind the big one ran after it');
        if (local) {
          assert.equal(await redis.exists(keys.input(kernel.id)), 0, 'a client message went by the input stream on the local path');
          return;
        }
        assert.equal(await redis.hget(keys.record(kernel.id), 'viaStream'), '1');
        assert.ok(await redis.xlen(keys.input(kernel.id)) >= 2, 'the big message and the one after it went by the input stream');
      } finally {
        redis.disconnect();
      }
    });

    it('relays an error with its traceback', async () => {
      const r = await run(kernel, '1/0');
      assert.equal(r.reply.content.status, 'error');
      const err = of(r.iopub, 'error')[0]?.content as { ename: string; traceback: string[] };
      assert.equal(err.ename, 'ZeroDivisionError');
      assert.ok(err.traceback.length > 0);
    });

    it('relays display_data with an image/png (matplotlib)', async () => {
      const r = await run(kernel, 'import matplotlib\nmatplotlib.use("module://matplotlib_inline.backend_inline")\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()');
      assert.equal(r.reply.content.status, 'ok', JSON.stringify(r.reply.content));
      const png = of(r.iopub, 'display_data').map((m) => (m.content as { data: Record<string, string> }).data['image/png']).find(Boolean);
      assert.ok(png, 'a display_data with image/png');
      assert.equal(Buffer.from(png, 'base64').subarray(1, 4).toString(), 'PNG');
    });

    it('passes complete_request and inspect_request through', async () => {
      const c = await kernel.requestComplete({ code: 'math.sq', cursor_pos: 7 });
      assert.equal(c.content.status, 'ok');
      const matches = (c.content as { matches: string[] }).matches;
      assert.ok(matches.includes('math.sqrt') || matches.includes('sqrt'), JSON.stringify(c.content));
      const i = await kernel.requestInspect({ code: 'math.sqrt', cursor_pos: 9, detail_level: 0 });
      assert.equal(i.content.status, 'ok');
      assert.equal((i.content as { found: boolean }).found, true);
    });

    it('answers debug_request on control (no debugger in the sandbox: an empty reply, not a hang)', { timeout: 60_000 }, async () => {
      const info = await kernel.requestKernelInfo();
      assert.notEqual((info?.content as { debugger?: boolean }).debugger, true, 'the kernel says it has no debugger');
      const reply = await kernel.requestDebug({ seq: 1, type: 'request', command: 'initialize', arguments: { clientID: 'corral-test', adapterID: 'python' } }).done;
      assert.equal(reply.header.msg_type, 'debug_reply');
      assert.equal(reply.channel, 'control');
    });

    it('answers input() through stdin', async () => {
      const prompts: string[] = [];
      const r = await run(kernel, 'name = input("who? ")\nprint("hello", name)', { stdin: (p) => { prompts.push(p); return 'corral'; } });
      assert.equal(r.reply.content.status, 'ok');
      assert.deepEqual(prompts, ['who? ']);
      assert.equal(stdoutOf(r.iopub), 'hello corral\n');
    });

    it('interrupts a time.sleep loop', async () => {
      const started = new Promise<void>((resolve) => {
        const onMsg = (_: unknown, msg: KernelMessage.IIOPubMessage) => {
          if (msg.header.msg_type === 'stream' && (msg.content as { text: string }).text.includes('looping')) {
            kernel.iopubMessage.disconnect(onMsg);
            resolve();
          }
        };
        kernel.iopubMessage.connect(onMsg);
      });
      const cell = run(kernel, 'import time\nprint("looping", flush=True)\nwhile True:\n    time.sleep(0.05)');
      await started;
      await kernel.interrupt();
      const r = await cell;
      assert.equal(r.reply.content.status, 'error');
      assert.equal((r.reply.content as { ename: string }).ename, 'KeyboardInterrupt');
      const after = await run(kernel, 'x');
      assert.equal(resultOf(after.iopub), '41', 'the kernel lives on with its state');
    });

    it('relays comm messages with binary buffers both ways (v1 protocol)', { timeout: 120_000 }, async () => {
      assert.equal((kernel as unknown as { _ws: { protocol: string } })._ws.protocol, 'v1.kernel.websocket.jupyter.org');
      await commBuffers(kernel, 'v1');
    });

    it('relays comm messages with binary buffers both ways (the JSON form\'s binary frames)', { timeout: 120_000 }, async () => {
      // The same client offering no subprotocol, as against Jupyter Server 1.x or Kernel Gateway.
      class JsonFormWebSocket extends WebSocket {
        constructor(url: string) { super(url); }
      }
      const jsonKm = new KernelManager({ serverSettings: { ...settings(s), WebSocket: JsonFormWebSocket as unknown as typeof globalThis.WebSocket } });
      try {
        const conn = jsonKm.connectTo({ model: { id: kernel.id, name: 'python3' } });
        await connected(conn);
        assert.equal((conn as unknown as { _ws: { protocol: string } })._ws.protocol, '');
        await commBuffers(conn, 'json');
        conn.dispose();
      } finally {
        jsonKm.dispose();
      }
    });

    it('restarts: the state is gone, the kernel answers', async () => {
      await kernel.restart();
      const r = await run(kernel, 'try:\n    x\n    print("still")\nexcept NameError:\n    print("gone")');
      assert.equal(stdoutOf(r.iopub), 'gone\n');
    });

    it('has kernel_info_request answered for the kernel when it has nothing in hand: busy, the reply, idle, each with the request as parent, in the kernel\'s session — after a restart, the new kernel\'s', { timeout: 120_000 }, async () => {
      // The kernel's own handler is put out of action: only the worker's relay can answer.
      const disable = 'k = get_ipython().kernel\nk.shell_handlers["kernel_info_request"] = k.control_handlers["kernel_info_request"] = lambda *a: None';
      const restore = 'k = get_ipython().kernel\nk.shell_handlers["kernel_info_request"] = k.control_handlers["kernel_info_request"] = k.kernel_info_request';
      const raw = await rawConnection(s, kernel.id);
      const sessions: string[] = [];
      try {
        for (const round of ['the first kernel', 'the restarted kernel']) {
          const cell = await run(kernel, disable);
          assert.equal(cell.reply.content.status, 'ok');
          const session = cell.reply.header.session;
          sessions.push(session);
          for (const ch of ['shell', 'control']) {
            const { header, messages } = await raw.ask('kernel_info_request', {}, ch, ['kernel_info_reply']);
            assert.deepEqual(messages.map((m) => [m.channel, m.header.msg_type, m.content.execution_state]),
              [['iopub', 'status', 'busy'], [ch, 'kernel_info_reply', undefined], ['iopub', 'status', 'idle']], round);
            for (const m of messages) {
              assert.deepEqual(m.parent_header, header, 'the request\'s header as the client sent it');
              assert.equal(m.header.session, session, `${round}: the kernel's own session`);
              assert.equal(m.msg_id, m.header.msg_id);
            }
            const info = messages[1]!.content;
            assert.equal(info.status, 'ok');
            assert.equal(info.language_info.name, 'python');
            assert.match(info.protocol_version, /^5\./);
          }
          assert.equal((await run(kernel, restore)).reply.content.status, 'ok');
          if (round === 'the first kernel') await kernel.restart();
        }
        assert.notEqual(sessions[0], sessions[1], 'a restarted kernel has a session of its own');
        // Behind a cell the kernel is running, kernel_info waits for the kernel, as it would in Jupyter Server.
        const cell = raw.ask('execute_request', { code: 'import time; time.sleep(0.5)', silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: false }, 'shell', ['execute_reply']);
        const info = raw.ask('kernel_info_request', {}, 'shell', ['kernel_info_reply']);
        const [c, i] = await Promise.all([cell, info]);
        const replyAt = (r: typeof c, type: string) => r.messages.find((m) => m.header.msg_type === type)!.seq;
        assert.ok(replyAt(c, 'execute_reply') < replyAt(i, 'kernel_info_reply'), 'the kernel_info_reply came after the running cell\'s reply');
      } finally {
        raw.close();
      }
    });

    it('lists every live kernel session (one started through /v1/sessions too), then shuts the kernel down (its session ends)', async () => {
      const v1 = await api(s, 'POST', '/v1/sessions', { language: 'python' }, { authorization: `Bearer ${API_KEY}` });
      assert.equal(v1.status, 201, JSON.stringify(v1.body));
      const list = await api(s, 'GET', '/api/kernels', undefined, { authorization: `token ${API_KEY}` });
      assert.equal(list.status, 200);
      const mine = list.body.find((k: { id: string }) => k.id === kernel.id);
      assert.ok(mine, JSON.stringify(list.body));
      assert.equal(mine.name, 'python3');
      assert.equal(typeof mine.last_activity, 'string');
      assert.ok(mine.connections >= 1);
      const other = list.body.find((k: { id: string }) => k.id === v1.body.id);
      assert.deepEqual(other && Object.keys(other).sort(), ['connections', 'execution_state', 'id', 'last_activity', 'name'], JSON.stringify(list.body));
      assert.equal(other.name, 'python3');
      assert.equal(other.execution_state, 'idle');
      assert.equal(other.connections, 0);
      assert.equal((await api(s, 'DELETE', `/v1/sessions/${v1.body.id}`, undefined, { authorization: `Bearer ${API_KEY}` })).status, 200);
      const after = await api(s, 'GET', '/api/kernels', undefined, { authorization: `token ${API_KEY}` });
      assert.ok(!after.body.some((k: { id: string }) => k.id === v1.body.id), 'an ended session is not listed');
      await kernel.shutdown();
      const gone = await api(s, 'GET', `/api/kernels/${kernel.id}`, undefined, { authorization: `token ${API_KEY}` });
      assert.equal(gone.status, 404);
      const session = await api(s, 'GET', `/v1/sessions/${kernel.id}`, undefined, { authorization: `Bearer ${API_KEY}` });
      assert.equal(session.body.status, 'ended');
      assert.equal(session.body.endedReason, 'closed');
    });
  });
  describe('a kernel that dies (autorestart)', () => {
    let km: KernelManager;
    before(async () => {
      km = new KernelManager({ serverSettings: settings(s) });
      await km.ready;
    });
    after(() => { km?.dispose(); });

    it('is restarted: the client sees autorestarting then idle, the next cell runs on a fresh kernel, same id', { timeout: 240_000 }, async () => {
      const kernel = await km.startNew({ name: 'python3' });
      await connected(kernel);
      // Killed from inside, then killed at the session's memory limit (512 MiB): each time a fresh kernel.
      await diesAndComesBack(kernel, 'os.kill(os.getpid(), 9)');
      await diesAndComesBack(kernel, 'blocks = []\nwhile True:\n    blocks.append(b"x" * (32 << 20))');
      const model = await api(s, 'GET', `/api/kernels/${kernel.id}`, undefined, { authorization: `token ${API_KEY}` });
      assert.equal(model.status, 200, 'the same kernel id, still live');
      await kernel.shutdown();
    });

    it('says dead when the kernel cannot be started again (the session lives on)', { timeout: 240_000 }, async () => {
      // The last test's session frees its slot once its container is gone (a 503 until then).
      const kernel = await waitFor(() => km.startNew({ name: 'python3' }).catch((err: Error) => {
        if (/slot/.test(err.message)) return undefined;
        throw err;
      }), 'a free session slot', 2400);
      await connected(kernel);
      const statuses: Kernel.Status[] = [];
      const dead = new Promise<void>((resolve) => {
        kernel.statusChanged.connect((_, status) => {
          statuses.push(status);
          if (status === 'dead') resolve();
        });
      });
      // /box is the kernel's cwd, first on its sys.path: a module there shadows ipykernel's start.
      void kernel.requestExecute({ code: 'open("ipykernel.py", "w").write("raise SystemExit(3)\\n")\nimport os\nos._exit(1)' }).done.catch(() => {});
      await dead;
      assert.ok(statuses.indexOf('autorestarting') >= 0 && statuses.indexOf('autorestarting') < statuses.indexOf('dead'), statuses.join(' '));
      // A client that connects after the failed restart hears it dead too: a Jupyter client
      // reconnects on `restarting`, and its new socket may open after the `dead` went out.
      const late = km.connectTo({ model: { id: kernel.id, name: 'python3' } });
      try {
        await waitFor(async () => late.status === 'dead', 'a client connecting later to hear the kernel dead', 400);
      } finally {
        late.dispose();
      }
      const model = await api(s, 'GET', `/api/kernels/${kernel.id}`, undefined, { authorization: `token ${API_KEY}` });
      assert.equal(model.status, 200, 'the session itself lives on');
      assert.equal((await api(s, 'DELETE', `/api/kernels/${kernel.id}`, undefined, { authorization: `token ${API_KEY}` })).status, 204);
    });
  });
  describe('Debian jupyter-server with --gateway-url at Corral, and nbclient through it', () => {
    const noServer = spawnSync('/usr/bin/python3', ['-c', 'import jupyter_server, nbclient, nbformat, websocket'], { encoding: 'utf8' });
    const why = noServer.status !== 0 ? `Debian's jupyter-server / nbclient not importable: ${noServer.stderr.trim().split('\n').pop()}` : undefined;
    if (why) console.log(`# nbclient test skipped: ${why}`);
    let dir: string;
    let server: ChildProcess | undefined;
    let serverUrl: string;
    let serverLog = '';
    before(async () => {
      if (why) return;
      dir = await mkdtemp(join(tmpdir(), 'corral-jupyter-'));
      const port = await freePort();
      serverUrl = `http://127.0.0.1:${port}`;
      server = spawn('/usr/bin/python3', ['-m', 'jupyter_server', '--debug', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
        '--allow-root', '--ServerApp.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True', `--ServerApp.root_dir=${dir}`,
        `--gateway-url=${s.url}`, `--GatewayClient.auth_token=${API_KEY}`], {
        env: { PATH: '/usr/bin:/bin', HOME: dir, JUPYTER_CONFIG_DIR: join(dir, 'config'), JUPYTER_DATA_DIR: join(dir, 'data'), JUPYTER_RUNTIME_DIR: join(dir, 'runtime'), IPYTHONDIR: join(dir, 'ipython') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout!.on('data', (d: Buffer) => { serverLog = (serverLog + d.toString()).slice(-20_000); });
      server.stderr!.on('data', (d: Buffer) => { serverLog = (serverLog + d.toString()).slice(-20_000); });
      await waitFor(async () => {
        if (server!.exitCode !== null) throw new Error(`jupyter-server exited: ${serverLog}`);
        return (await fetch(`${serverUrl}/api/kernelspecs`).catch(() => undefined))?.ok;
      }, 'jupyter-server to answer', 600);
    });
    after(async () => {
      if (server && server.exitCode === null) {
        const exited = new Promise((r) => server!.once('exit', r));
        server.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (server.exitCode === null) server.kill('SIGKILL');
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('lists Corral\'s kernelspecs through the gateway', { skip: why }, async () => {
      const r = await fetch(`${serverUrl}/api/kernelspecs`);
      const body = await r.json() as { default: string; kernelspecs: Record<string, { spec: { display_name: string } }> };
      assert.equal(body.default, 'python3');
      assert.match(body.kernelspecs.python3!.spec.display_name, /Corral/);
    });

    it('relays comm buffers, and a kernel death and its autorestart, to @jupyterlab/services through the gateway', { skip: why, timeout: 240_000 }, async () => {
      // Jupyter Server 1.23's gateway WebSocket is the JSON form; it passes Corral's statuses on.
      const km = new KernelManager({ serverSettings: ServerConnection.makeSettings({
        baseUrl: `${serverUrl}/`, wsUrl: `${serverUrl.replace(/^http/, 'ws')}/`, token: '',
        WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      }) });
      try {
        await km.ready;
        const kernel = await km.startNew({ name: 'python3' });
        await connected(kernel);
        // Comm buffers both ways through the gateway (whose client sends them to Corral in a text frame).
        await commBuffers(kernel, 'gateway');
        await diesAndComesBack(kernel, 'os._exit(1)');
        const model = await api(s, 'GET', `/api/kernels/${kernel.id}`, undefined, { authorization: `token ${API_KEY}` });
        assert.equal(model.status, 200, 'the same kernel in Corral, still live');
        await kernel.shutdown();
      } finally {
        km.dispose();
      }
    });

    it('executes a notebook: state across cells, a plot, an error cell', { skip: why }, async () => {
      const nb = {
        nbformat: 4, nbformat_minor: 5,
        metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
        cells: [
          'x = 20\nprint("set", flush=True)',
          'x * 2 + 2',
          '%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()',
          '1/0',
          'print("after the error:", x)',
        ].map((source, i) => ({ id: `c${i}`, cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source })),
      };
      const kernelIds = async () => ((await api(s, 'GET', '/api/kernels', undefined, { authorization: `token ${API_KEY}` })).body as Array<{ id: string }>).map((k) => k.id).sort();
      const before = await kernelIds();
      const input = join(dir, 'in.ipynb');
      const output = join(dir, 'out.ipynb');
      await writeFile(input, JSON.stringify(nb));
      // Not spawnSync: the Corral under test runs in this process and must go on answering.
      const child = spawn('/usr/bin/python3', [NB_RUNNER, serverUrl, input, output], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: '/usr/bin:/bin', HOME: dir, JUPYTER_CONFIG_DIR: join(dir, 'config'), JUPYTER_DATA_DIR: join(dir, 'data'), JUPYTER_RUNTIME_DIR: join(dir, 'runtime') },
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20_000); });
      const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      const status = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      clearTimeout(killer);
      const runner = { status, stderr };
      assert.equal(runner.status, 0, `${runner.stderr}\n--- jupyter-server:\n${serverLog.split("\n").filter((l) => !l.includes("[D") || /kernels|Request|gateway/i.test(l)).join("\n").slice(-6000)}`);
      const done = JSON.parse(await readFile(output, 'utf8')) as { cells: Array<{ outputs: Array<Record<string, any>>; execution_count: number | null }> };
      // nbformat stores multi-line strings as lists of lines.
      const text = (v: unknown) => (Array.isArray(v) ? v.join('') : v);
      const [set, answer, plot, error, afterError] = done.cells;
      assert.deepEqual(set!.outputs.map((o) => text(o.text)), ['set\n']);
      assert.equal(answer!.outputs[0]!.output_type, 'execute_result');
      assert.equal(text(answer!.outputs[0]!.data['text/plain']), '42');
      const png = text(plot!.outputs.find((o) => o.output_type === 'display_data')?.data['image/png']) as string;
      assert.ok(png, JSON.stringify(plot!.outputs).slice(0, 500));
      assert.equal(Buffer.from(png, 'base64').subarray(1, 4).toString(), 'PNG');
      assert.equal(error!.outputs[0]!.output_type, 'error');
      assert.equal(error!.outputs[0]!.ename, 'ZeroDivisionError');
      assert.deepEqual(afterError!.outputs.map((o) => text(o.text)), ['after the error: 20\n']);
      assert.deepEqual(done.cells.map((c) => c.execution_count), [1, 2, 3, 4, 5]);
      // nbclient shut its kernel down through the gateway: its session has ended.
      assert.deepEqual(await kernelIds(), before);
    });
  });
  describe('hostile and malformed traffic', () => {
    const auth = { authorization: `token ${API_KEY}` };
    let id: string;
    const wsUrl = (kernel: string, query = `token=${API_KEY}`) => `${s.url.replace(/^http/, 'ws')}/api/kernels/${kernel}/channels?${query}`;
    /** Opens a socket; resolves once open, or with the HTTP status the upgrade was refused with. */
    const open = (url: string, headers: Record<string, string> = {}) => new Promise<WebSocket | number>((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); ws.terminate(); });
      ws.once('error', (err) => reject(err));
    });
    const closeOf = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    let n = 0;
    const request = (msgType: string, content: object, channel = 'shell') => {
      const msgId = `hostile-${++n}`;
      return { msgId, text: JSON.stringify({ channel, header: { msg_id: msgId, msg_type: msgType, session: 'hostile', username: 't', date: new Date().toISOString(), version: '5.3' }, parent_header: {}, metadata: {}, content }) };
    };
    /** Sends a request; resolves with its reply on the channel. */
    const ask = (ws: WebSocket, msgType: string, content: object, channel = 'shell') => new Promise<any>((resolve) => {
      const r = request(msgType, content, channel);
      const on = (data: WebSocket.RawData) => {
        const m = JSON.parse(data.toString());
        if (m.channel === channel && m.parent_header?.msg_id === r.msgId) {
          ws.off('message', on);
          resolve(m);
        }
      };
      ws.on('message', on);
      ws.send(r.text);
    });

    before(async () => {
      const r = await api(s, 'POST', '/api/kernels', { name: 'python3' }, auth);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      id = r.body.id;
    });
    after(async () => {
      const r = await api(s, 'DELETE', `/api/kernels/${id}`, undefined, auth);
      assert.equal(r.status, 204);
    });

    it('REST: bad input is a 4xx with a JSON error, never a 5xx', async () => {
      const post = (body: string) => fetch(`${s.url}/api/kernels`, { method: 'POST', body, headers: { ...auth, 'content-type': 'application/json' } });
      let r = await post('{nope');
      assert.equal(r.status, 400);
      assert.equal((await r.json() as any).reason, 'invalid_json');
      r = await post('{"name": 5}');
      assert.equal(r.status, 422);
      r = await post('{"name": "cobol"}');
      assert.equal(r.status, 404);
      assert.match((await r.json() as any).message, /no such kernel/);
      for (const path of ['/api/kernels/nope', `/api/kernels/${'0'.repeat(36)}`, '/api/kernelspecs/cobol']) {
        const g = await api(s, 'GET', path, undefined, auth);
        assert.equal(g.status, 404, path);
        assert.equal(typeof g.body.message, 'string');
        assert.equal(typeof g.body.error.code, 'string');
      }
      const i = await api(s, 'POST', `/api/kernels/${'0'.repeat(36)}/interrupt`, undefined, auth);
      assert.equal(i.status, 404);
      const noKey = await api(s, 'GET', '/api/kernels');
      assert.equal(noKey.status, 401);
      const badKey = await api(s, 'GET', '/api/kernels', undefined, { authorization: 'token wrong' });
      assert.equal(badKey.status, 401);
      const queryKey = await api(s, 'GET', `/api/kernels?token=${API_KEY}`);
      assert.equal(queryKey.status, 200);
    });

    it('refuses the upgrade for an unknown kernel (404) and a bad token (401)', async () => {
      assert.equal(await open(wsUrl('00000000-0000-0000-0000-000000000000')), 404);
      assert.equal(await open(wsUrl('not-a-kernel')), 404);
      assert.equal(await open(wsUrl(id, 'token=wrong')), 401);
      assert.equal(await open(wsUrl(id, '')), 401);
      const byHeader = await open(wsUrl(id, ''), { authorization: `token ${API_KEY}` });
      assert.ok(byHeader instanceof WebSocket);
      byHeader.close();
    });

    it('drops unknown channels and message types, and answers what follows', async () => {
      const ws = await open(wsUrl(id)) as WebSocket;
      ws.send(request('kernel_info_request', {}, 'nowhere').text);
      ws.send(request('debug_request', { command: 'initialize' }, 'shell').text);
      ws.send(request('made_up_request', {}).text);
      ws.send(JSON.stringify({ channel: 'shell', header: { msg_id: 'x', msg_type: 'kernel_info_request', session: 's' }, parent_header: {}, metadata: {}, content: {}, buffers: ['AAAA'] }));
      const reply = await ask(ws, 'kernel_info_request', {});
      assert.equal(reply.msg_type, 'kernel_info_reply');
      assert.equal(reply.content.status, 'ok');
      ws.close();
    });

    it('closes on bad JSON (1007), a non-message (1007), a binary frame whose parts do not fit (1007) and huge messages (1009)', async () => {
      let ws = await open(wsUrl(id)) as WebSocket;
      let closed = closeOf(ws);
      ws.send('{not json');
      assert.equal(await closed, 1007);
      ws = await open(wsUrl(id)) as WebSocket;
      closed = closeOf(ws);
      ws.send(JSON.stringify({ channel: 'shell', header: { msg_type: 'execute_request' } }));
      assert.equal(await closed, 1007);
      ws = await open(wsUrl(id)) as WebSocket;
      closed = closeOf(ws);
      ws.send(Buffer.from([0, 1, 2, 3]));
      assert.equal(await closed, 1007);
      ws = await open(wsUrl(id)) as WebSocket;
      closed = closeOf(ws);
      // Jupyter Server 1.x's binary form: two parts, the second's offset past the frame.
      ws.send(Buffer.from([0, 0, 0, 2, 0, 0, 0, 12, 0, 0, 1, 0, 0x7b, 0x7d]));
      assert.equal(await closed, 1007);
      ws = await open(wsUrl(id)) as WebSocket;
      closed = closeOf(ws);
      ws.send(request('execute_request', { code: `x = "${'a'.repeat(3 * 1024 * 1024)}"` }).text);
      assert.equal(await closed, 1009);
      // The cap counts buffers: a small comm_msg with a 3 MiB buffer (Jupyter Server 1.x's binary form).
      ws = await open(wsUrl(id)) as WebSocket;
      closed = closeOf(ws);
      const json = Buffer.from(request('comm_msg', { comm_id: 'c', data: {} }).text);
      const head = Buffer.alloc(12);
      head.writeUInt32BE(2, 0);
      head.writeUInt32BE(12, 4);
      head.writeUInt32BE(12 + json.length, 8);
      ws.send(Buffer.concat([head, json, Buffer.alloc(3 * 1024 * 1024)]));
      assert.equal(await closed, 1009);
      // The kernel is unharmed.
      ws = await open(wsUrl(id)) as WebSocket;
      const reply = await ask(ws, 'execute_request', { code: '6 * 7', silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: false });
      assert.equal(reply.content.status, 'ok');
      ws.close();
    });

    it('cuts a client that never reads while the kernel floods, and goes on serving', async () => {
      // A raw socket that completes the handshake, sends one masked frame, then never reads.
      const { connect } = await import('node:net');
      const port = Number(new URL(s.url).port);
      const sock = connect(port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(`GET /api/kernels/${id}/channels?token=${API_KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      await new Promise((r) => sock.once('data', r));
      sock.pause();
      const flood = request('execute_request', { code: 'import sys\nline = "x" * 65536 + "\\n"\nfor i in range(4000):\n    sys.stdout.write(line); sys.stdout.flush()', silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: false });
      const payload = Buffer.from(flood.text);
      const mask = Buffer.from([1, 2, 3, 4]);
      const header = payload.length < 65536 ? Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]) : assert.fail('test frame too big');
      sock.write(Buffer.concat([header, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
      // The API cuts the connection once its send buffer passes the cap: no connection is left.
      await waitFor(async () => {
        const r = await api(s, 'GET', `/api/kernels/${id}`, undefined, auth);
        return r.body.connections === 0;
      }, 'the API to cut the client that does not read', 1200);
      sock.destroy();
      // Interrupt the flood (if it still runs), and the kernel answers a well-behaved client.
      await api(s, 'POST', `/api/kernels/${id}/interrupt`, undefined, auth);
      const ws = await open(wsUrl(id)) as WebSocket;
      const reply = await ask(ws, 'kernel_info_request', {});
      assert.equal(reply.content.status, 'ok');
      ws.close();
    });
  });
});
