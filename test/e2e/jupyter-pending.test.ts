// The Jupyter face's pending kernels (docs/compat.md, CORRAL_JUPYTER_PENDING_KERNELS): POST
// /api/kernels answers 201 "starting" as soon as the session is queued, and the kernel's WebSocket
// is accepted only once the kernel is ready — on the local path when the worker is in the API's
// process. Real HTTP and WebSocket, a real redis-server; the kernels are the python image's
// ipykernel in the real sandbox, cold-started (no warm pool), so a kernel is still starting when
// the 201 has come. The failures after the 201 need no sandbox: a worker entry that advertises a
// free slot and takes nothing (as a worker that dies right after its report), so the session is
// withdrawn after the queue wait.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { connectRedis } from '../../services/core/redis.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { liveChannel } from '../../services/core/session-relay.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { api, startRedis, startStack, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# pending-kernel tests with a kernel skipped: ${skip}`);
const real = sb as RealSandbox;

const ENV = { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WORKER_SILENCE_MS: '4000', CORRAL_SESSION_START_TIMEOUT_MS: '120000' };

/** Bound on one WebSocket open or cell, so that a broken face fails the test rather than holding it. */
const STEP_MS = 120_000;

type Opened = { ws: WebSocket } | { status: number; headers: Record<string, string | string[] | undefined>; body: any };

/** Opens a kernel's WebSocket; resolves once open (after `onOpen` ran), or with the refused upgrade's status, headers and body. */
function open(s: Stack, id: string, onOpen: () => Promise<void> = async () => {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/kernels/${id}/channels`);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`the WebSocket neither opened nor was refused within ${STEP_MS} ms`)); }, STEP_MS);
    ws.once('open', () => void onOpen().then(() => resolve({ ws }), reject).finally(() => clearTimeout(timer)));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        clearTimeout(timer);
        ws.terminate();
        let body: any = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    ws.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Asserts that the upgrade was refused (an accepted socket is closed first, so it holds nothing). */
function refused(o: Opened, message: string): asserts o is Exclude<Opened, { ws: WebSocket }> {
  if ('ws' in o) o.ws.close();
  assert.ok(!('ws' in o), message);
}

/** A cell on a raw JSON-form connection: its execute_result's text once its reply and idle have come. */
function cell(ws: WebSocket, code: string): Promise<string | undefined> {
  const header = { msg_id: `pending-${Math.random()}`, msg_type: 'execute_request', session: 'pending-client', username: 'test', date: new Date().toISOString(), version: '5.3' };
  return new Promise((resolve, reject) => {
    const mine: any[] = [];
    const timer = setTimeout(() => { ws.off('message', on); reject(new Error(`${code}: no reply and idle within ${STEP_MS} ms`)); }, STEP_MS);
    const on = (data: WebSocket.RawData) => {
      const m = JSON.parse(data.toString());
      if (m.parent_header?.msg_id !== header.msg_id) return;
      mine.push(m);
      if (mine.some((x) => x.header.msg_type === 'execute_reply') && mine.some((x) => x.header.msg_type === 'status' && x.content.execution_state === 'idle')) {
        clearTimeout(timer);
        ws.off('message', on);
        resolve(mine.find((x) => x.header.msg_type === 'execute_result')?.content.data['text/plain']);
      }
    };
    ws.on('message', on);
    ws.send(JSON.stringify({
      channel: 'shell', header, parent_header: {}, metadata: {},
      content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    }));
  });
}

/** One cell on a connection of its own, which must be accepted; closed after. */
async function cellOnOwnConnection(s: Stack, id: string, code: string): Promise<string | undefined> {
  const o = await open(s, id);
  assert.ok('ws' in o, JSON.stringify(o));
  try {
    return await cell(o.ws, code);
  } finally {
    o.ws.close();
  }
}

function withStack(env: Record<string, string>): { readonly s: Stack; readonly redis: ReturnType<typeof connectRedis>; readonly publishes: () => number } {
  let s: Stack | undefined;
  let redis: ReturnType<typeof connectRedis> | undefined;
  let sub: ReturnType<typeof connectRedis> | undefined;
  let publishes = 0;
  after(async () => {
    sub?.disconnect();
    redis?.disconnect();
    await s?.stop();
  });
  expectNothingLeftBehind('a session left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: { ...ENV, ...env } });
    redis = connectRedis(s.redis.url, 'test-pending');
    sub = connectRedis(s.redis.url, 'test-relay-publishes');
    sub.on('pmessage', () => { publishes++; });
    await sub.psubscribe(liveChannel(sessionKeys(s.config.keyPrefix).input('*')));
  });
  return { get s() { return s!; }, get redis() { return redis!; }, publishes: () => publishes };
}

const statusOf = (stack: { s: Stack; redis: ReturnType<typeof connectRedis> }, id: string) => stack.redis.hget(sessionKeys(stack.s.config.keyPrefix).record(id), 'status');

describe('pending kernels (the default): POST answers while the kernel starts', { skip }, () => {
  const stack = withStack({});

  it('answers 201 "starting" before the session is ready; a WebSocket opened at once is accepted once it is ready, on the local path', async () => {
    const s = stack.s;
    assert.equal(s.config.sessions.jupyterPendingKernels, true);
    const r = await api(s, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // A cold kernel start (a container, Python, ipykernel's imports): with the switch off the
    // record says "ready" by the time the 201 is sent.
    const atAnswer = await statusOf(stack, r.body.id);
    assert.equal(r.body.execution_state, 'starting');
    assert.equal(atAnswer, 'starting', 'the 201 came once the session was ready');
    assert.equal(r.headers.get('location'), `/api/kernels/${r.body.id}`);
    const model = await api(s, 'GET', `/api/kernels/${r.body.id}`);
    assert.equal(model.status, 200);
    assert.ok(['starting', 'idle'].includes(model.body.execution_state), model.body.execution_state);
    const before = stack.publishes();
    let atOpen: string | null = null;
    const o = await open(s, r.body.id, async () => { atOpen = await statusOf(stack, r.body.id); });
    assert.ok('ws' in o, JSON.stringify(o));
    try {
      assert.equal(atOpen, 'ready', 'the upgrade was accepted before the kernel was ready');
      assert.equal(await cell(o.ws, '6 * 7'), '42');
      assert.equal(await cell(o.ws, '1 + 1'), '2');
      // The connection found the session ready and hosted here: every message by the local port.
      assert.equal(stack.publishes() - before, 0, 'client messages published to the session\'s channel');
    } finally {
      o.ws.close();
    }
    assert.equal((await api(s, 'GET', `/api/kernels/${r.body.id}`)).body.execution_state, 'idle');
    assert.equal((await api(s, 'DELETE', `/api/kernels/${r.body.id}`)).status, 204);
  });

  it('interrupt and restart of a starting kernel wait for it and answer as for a running one', async () => {
    const s = stack.s;
    const r = await api(s, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((await api(s, 'POST', `/api/kernels/${r.body.id}/interrupt`)).status, 204);
    assert.equal(await statusOf(stack, r.body.id), 'ready');
    const restarted = await api(s, 'POST', `/api/kernels/${r.body.id}/restart`);
    assert.equal(restarted.status, 200, JSON.stringify(restarted.body));
    assert.equal(restarted.body.id, r.body.id);
    assert.equal(await cellOnOwnConnection(s, r.body.id, '2 * 3'), '6');
    assert.equal((await api(s, 'DELETE', `/api/kernels/${r.body.id}`)).status, 204);
  });

  it('ends a kernel deleted while it starts: 204, then 404 for its model and its WebSocket; its session ended "closed"', async () => {
    const s = stack.s;
    const r = await api(s, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const ws = open(s, r.body.id);
    const del = await api(s, 'DELETE', `/api/kernels/${r.body.id}`);
    assert.equal(del.status, 204, JSON.stringify(del.body));
    const upgrade = await ws;
    refused(upgrade, 'the WebSocket of a kernel shut down while it started was accepted');
    assert.equal(upgrade.status, 404, JSON.stringify(upgrade.body));
    assert.equal(upgrade.body.reason, 'session_not_found');
    assert.equal(typeof upgrade.body.message, 'string');
    assert.equal((await api(s, 'GET', `/api/kernels/${r.body.id}`)).status, 404);
    const session = await api(s, 'GET', `/v1/sessions/${r.body.id}`);
    assert.equal(session.body.status, 'ended');
    assert.equal(session.body.endedReason, 'closed');
    assert.equal((await api(s, 'DELETE', `/api/kernels/${r.body.id}`)).status, 404);
    // Its container and volume go: expectNothingLeftBehind checks after the suite.
  });
});

describe('CORRAL_JUPYTER_PENDING_KERNELS=false: POST answers once the kernel is ready', { skip }, () => {
  const stack = withStack({ CORRAL_JUPYTER_PENDING_KERNELS: 'false' });

  it('answers 201 with the kernel ready', async () => {
    const s = stack.s;
    const r = await api(s, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.execution_state, 'idle');
    assert.equal(await statusOf(stack, r.body.id), 'ready');
    assert.equal(await cellOnOwnConnection(s, r.body.id, '6 * 7'), '42');
    assert.equal((await api(s, 'DELETE', `/api/kernels/${r.body.id}`)).status, 204);
  });
});

describe('a pending kernel that no worker takes (no sandbox needed)', () => {
  // Two API processes on one Redis (same key prefix), no worker: a worker entry advertises a free
  // slot and takes nothing, so each session is withdrawn after the queue wait.
  const prefix = `tp${Math.random().toString(16).slice(2, 8)}`;
  const env = { CORRAL_KEY_PREFIX: prefix, CORRAL_SESSION_QUEUE_WAIT_MS: '500', CORRAL_SESSION_WORKER_SILENCE_MS: '60000' };
  let dir: string | undefined;
  let redisServer: Awaited<ReturnType<typeof startRedis>> | undefined;
  let a: Stack | undefined;
  let b: Stack | undefined;
  let redis: ReturnType<typeof connectRedis> | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-pending-'));
    redisServer = await startRedis(dir);
    a = await startStack({ redis: redisServer, worker: false, env });
    b = await startStack({ redis: redisServer, worker: false, env });
    redis = connectRedis(redisServer.url, 'test-phantom');
  });
  after(async () => {
    redis?.disconnect();
    await a?.stop();
    await b?.stop();
    await redisServer?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const phantomSlot = () => redis!.hset(sessionKeys(prefix).workers, 'phantom', JSON.stringify({ slots: 1, held: 0, at: Date.now() }));

  it('refuses the WebSocket with 503, Retry-After and Jupyter\'s body, then 404s the kernel', async () => {
    await phantomSlot();
    const r = await api(a!, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.execution_state, 'starting');
    const upgrade = await open(a!, r.body.id);
    refused(upgrade, 'the WebSocket of a kernel that never started was accepted');
    assert.equal(upgrade.status, 503, JSON.stringify(upgrade.body));
    assert.equal(upgrade.headers['retry-after'], String(a!.config.retryAfterSeconds));
    assert.equal(upgrade.body.reason, 'no_session_capacity');
    assert.equal(typeof upgrade.body.message, 'string');
    assert.equal(upgrade.body.error.code, 'no_session_capacity');
    assert.equal((await api(a!, 'GET', `/api/kernels/${r.body.id}`)).status, 404);
    // Interrupting or restarting it says the same as the WebSocket did, or 404 once it is gone: never a 5xx of its own.
    const i = await api(a!, 'POST', `/api/kernels/${r.body.id}/interrupt`);
    assert.equal(i.status, 404, JSON.stringify(i.body));
  });

  it('waits for a kernel another API process is starting (its record), and refuses once its start failed', async () => {
    await phantomSlot();
    const r = await api(a!, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // B did not start it: it polls the record, which A removes when it withdraws the session.
    const model = await api(b!, 'GET', `/api/kernels/${r.body.id}`);
    assert.equal(model.body.execution_state, 'starting');
    const upgrade = await open(b!, r.body.id);
    refused(upgrade, 'another process accepted the WebSocket of a kernel still starting');
    assert.equal(upgrade.status, 404, JSON.stringify(upgrade.body));
    assert.equal(upgrade.body.reason, 'session_not_found');
  });

  it('interrupts a starting kernel only once it is running: one that does not start answers its error', async () => {
    await phantomSlot();
    const r = await api(a!, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const i = await api(a!, 'POST', `/api/kernels/${r.body.id}/interrupt`);
    assert.equal(i.status, 503, JSON.stringify(i.body));
    assert.equal(i.body.reason, 'no_session_capacity');
    const restart = await api(b!, 'POST', `/api/kernels/${r.body.id}/restart`);
    assert.equal(restart.status, 404, JSON.stringify(restart.body));
  });

  it('ends a kernel deleted before any worker took it: 204, its start settles, its WebSocket 404s', async () => {
    await phantomSlot();
    const r = await api(a!, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const ws = open(a!, r.body.id);
    const del = await api(a!, 'DELETE', `/api/kernels/${r.body.id}`);
    assert.equal(del.status, 204, JSON.stringify(del.body));
    const upgrade = await ws;
    refused(upgrade, 'the WebSocket was accepted');
    assert.equal(upgrade.status, 404, JSON.stringify(upgrade.body));
    assert.equal(upgrade.body.reason, 'session_not_found');
    const session = await api(a!, 'GET', `/v1/sessions/${r.body.id}`);
    assert.equal(session.body.status, 'ended');
    assert.equal(session.body.endedReason, 'closed');
  });

  it('still answers a capacity error at POST (read before anything is queued)', async () => {
    await redis!.hdel(sessionKeys(prefix).workers, 'phantom');
    const r = await api(a!, 'POST', '/api/kernels', { name: 'python3' });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'no_session_capacity');
    const bad = await api(a!, 'POST', '/api/kernels', { name: 'nope' });
    assert.equal(bad.status, 404);
  });
});
