// The Jupyter face on the local path (docs/sessions.md, "The cell in one process"): with the API
// and the session's worker in one process and CORRAL_SESSION_LOCAL_PATH on, a client's messages go
// to the worker's relay directly (no publish on the session's channel); off, by the Redis relay as
// before. Either way the kernel's messages come by the session's kernel stream, each once to every
// connection. Real HTTP and WebSocket, a real redis-server, the real sandbox and the python image's
// ipykernel. The relay's publishes are counted by a pattern subscription of ours.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { connectRedis } from '../../services/core/redis.ts';
import { CLIENT_PUBLISH_MAX_BYTES, kernelStreamKey } from '../../services/core/session-messages.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { liveChannel } from '../../services/core/session-relay.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# local-path Jupyter face tests skipped: ${skip}`);
const real = sb as RealSandbox;

const ENV = { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WORKER_SILENCE_MS: '4000', CORRAL_SESSION_START_TIMEOUT_MS: '120000' };

/** A raw client of the JSON form: every message it gets, and ask() for one request's messages. */
async function connect(s: Stack, kernelId: string) {
  const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/kernels/${kernelId}/channels`);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const all: any[] = [];
  ws.on('message', (data: WebSocket.RawData) => all.push(JSON.parse(data.toString())));
  let n = 0;
  const ask = (msgType: string, content: object, replies: string[]) => {
    const header = { msg_id: `local-${++n}-${Math.random()}`, msg_type: msgType, session: 'local-client', username: 'test', date: new Date().toISOString(), version: '5.3' };
    const done = waitFor(async () => {
      const mine = all.filter((m) => m.parent_header?.msg_id === header.msg_id);
      return replies.every((r) => mine.some((m) => m.header.msg_type === r))
        && mine.some((m) => m.header.msg_type === 'status' && m.content.execution_state === 'idle');
    }, `${msgType}'s replies and idle`, 1200);
    ws.send(JSON.stringify({ channel: 'shell', header, parent_header: {}, metadata: {}, content }));
    return done.then(() => all.filter((m) => m.parent_header?.msg_id === header.msg_id));
  };
  return { ws, all, ask, close: () => ws.close() };
}

const execute = (code: string) => ({ code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
const duplicates = (messages: any[]) => messages.map((m) => m.header.msg_id).filter((id, i, ids) => ids.indexOf(id) !== i);

function withStack(env: Record<string, string>): { readonly s: Stack; readonly requests: () => number } {
  let s: Stack | undefined;
  let sub: ReturnType<typeof connectRedis> | undefined;
  let requests = 0;
  after(async () => {
    sub?.disconnect();
    await s?.stop();
  });
  expectNothingLeftBehind('a session left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: { ...ENV, ...env } });
    sub = connectRedis(s.redis.url, 'test-relay-publishes');
    sub.on('pmessage', () => { requests++; });
    await sub.psubscribe(liveChannel(sessionKeys(s.config.keyPrefix).input('*')));
  });
  return { get s() { return s!; }, requests: () => requests };
}

/** A kernel whose session is ready (a connection opened before takes the Redis path for its life). */
async function readyKernel(s: Stack): Promise<string> {
  const r = await api(s, 'POST', '/api/kernels', { name: 'python3' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id as string;
  await waitFor(async () => (await api(s, 'GET', `/v1/sessions/${id}`)).body.status === 'ready', 'the kernel\'s session to be ready', 4800);
  return id;
}

/** kernel_info, then a cell with output and a result, on one connection; a second one sees the cell's iopub. */
async function cellOnTwoConnections(s: Stack, id: string): Promise<void> {
  const a = await connect(s, id);
  const b = await connect(s, id);
  try {
    const info = await a.ask('kernel_info_request', {}, ['kernel_info_reply']);
    assert.equal(info.find((m) => m.header.msg_type === 'kernel_info_reply')?.content.status, 'ok');
    const cell = await a.ask('execute_request', execute('print("hi")\n6 * 7'), ['execute_reply']);
    assert.equal(cell.find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], '42', JSON.stringify(cell));
    assert.equal(cell.filter((m) => m.msg_type === 'stream').map((m) => m.content.text).join(''), 'hi\n');
    // The other connection: the cell's iopub (not its shell reply), each message once.
    const parent = cell[0].parent_header.msg_id;
    await waitFor(async () => b.all.some((m) => m.parent_header?.msg_id === parent && m.content?.execution_state === 'idle'), 'the second connection to see the cell end', 1200);
    const seen = b.all.filter((m) => m.parent_header?.msg_id === parent);
    assert.deepEqual(seen.map((m) => m.header.msg_type), cell.filter((m) => m.channel === 'iopub').map((m) => m.header.msg_type));
    assert.deepEqual(duplicates(a.all), [], 'a message came twice to the first connection');
    assert.deepEqual(duplicates(b.all), [], 'a message came twice to the second connection');
  } finally {
    a.close();
    b.close();
  }
}

describe('the Jupyter face with the kernel\'s worker in the API\'s process: the local path', { skip }, () => {
  const stack = withStack({});

  it('sends a client\'s messages to the kernel without a publish; each kernel message comes once to each connection', async () => {
    const s = stack.s;
    assert.equal(s.config.sessions.localPath, true);
    const id = await readyKernel(s);
    const before = stack.requests();
    await cellOnTwoConnections(s, id);
    // Fails with the port unwired: kattach (twice), kernel_info_request and execute_request would each be published.
    assert.equal(stack.requests() - before, 0, 'client messages published to the session\'s channel');
    // A connection after the first ones (its feed already following) also gets its answers.
    const c = await connect(s, id);
    try {
      const again = await c.ask('execute_request', execute('6 * 7'), ['execute_reply']);
      assert.equal(again.find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], '42');
    } finally {
      c.close();
    }
    assert.equal(stack.requests() - before, 0);
    assert.equal((await api(s, 'DELETE', `/api/kernels/${id}`)).status, 204);
  });

  it('hands the kernel\'s messages to the feed as the worker appends them: a reply comes before Redis has it, and only once', async () => {
    const s = stack.s;
    const id = await readyKernel(s);
    const a = await connect(s, id);
    const redis = connectRedis(s.redis.url, 'test-pause');
    const key = kernelStreamKey(s.config.keyPrefix, id);
    const inStream = async (msgId: string) => (await redis.xrange(key, '-', '+')).some(([, f]) => (f[1] ?? '').includes(`"msg_id":"${msgId}"`));
    try {
      await a.ask('kernel_info_request', {}, ['kernel_info_reply']);
      // Redis takes no write (the worker's appends wait) while reads go on.
      await redis.call('CLIENT', 'PAUSE', '20000', 'WRITE');
      let cell: any[];
      try {
        cell = await a.ask('execute_request', execute('6 * 7'), ['execute_reply']);
        // Fails with the tap unwired: the client could only have the reply from the stream.
        assert.equal(await inStream(cell.find((m) => m.header.msg_type === 'execute_reply').header.msg_id), false, 'the reply was in the stream before the client had it');
      } finally {
        await redis.call('CLIENT', 'UNPAUSE');
      }
      assert.equal(cell.find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], '42');
      // The appends go in; the feed's stream read brings them too, and skips them.
      await waitFor(() => inStream(cell.find((m) => m.header.msg_type === 'execute_reply').header.msg_id), 'the reply in the stream', 1200);
      const after = await a.ask('execute_request', execute('1 + 1'), ['execute_reply']);
      assert.equal(after.find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], '2');
      // A connection opened now: its feed (the same) hands it the next cell's messages once each too.
      const b = await connect(s, id);
      try {
        await b.ask('execute_request', execute('3'), ['execute_reply']);
        assert.deepEqual(duplicates(b.all), [], 'a message came twice to the later connection');
      } finally {
        b.close();
      }
      assert.deepEqual(duplicates(a.all), [], 'a message came twice');
    } finally {
      a.close();
      redis.disconnect();
    }
    assert.equal((await api(s, 'DELETE', `/api/kernels/${id}`)).status, 204);
  });
});

describe('the Jupyter face with CORRAL_SESSION_LOCAL_PATH=false: the Redis relay', { skip }, () => {
  const stack = withStack({ CORRAL_SESSION_LOCAL_PATH: 'false' });

  it('answers the same, each client message published to the session\'s channel', async () => {
    const s = stack.s;
    const id = await readyKernel(s);
    const before = stack.requests();
    await cellOnTwoConnections(s, id);
    // Two kattach, kernel_info_request, execute_request.
    assert.equal(stack.requests() - before, 4);
    // A message over the publish bound takes the input stream, and the one right behind it too, in order.
    const c = await connect(s, id);
    try {
      const big = c.ask('execute_request', execute(`big = "${'y'.repeat(CLIENT_PUBLISH_MAX_BYTES)}"\nlen(big)`), ['execute_reply']);
      const next = c.ask('execute_request', execute('len(big) + 1'), ['execute_reply']);
      assert.equal((await big).find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], String(CLIENT_PUBLISH_MAX_BYTES));
      assert.equal((await next).find((m) => m.header.msg_type === 'execute_result')?.content.data['text/plain'], String(CLIENT_PUBLISH_MAX_BYTES + 1));
      const redis = connectRedis(s.redis.url, 'test-input');
      try {
        const keys = sessionKeys(s.config.keyPrefix);
        assert.equal(await redis.hget(keys.record(id), 'viaStream'), '1');
        assert.ok(await redis.xlen(keys.input(id)) >= 2, 'the big message and the one after it went by the input stream');
      } finally {
        redis.disconnect();
      }
    } finally {
      c.close();
    }
    assert.equal((await api(s, 'DELETE', `/api/kernels/${id}`)).status, 204);
  });
});
