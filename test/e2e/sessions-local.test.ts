// A session's requests when the API and the worker holding the session share one process
// (`corral up`; docs/sessions.md, "The cell in one process"): with CORRAL_SESSION_LOCAL_PATH on
// they go to the worker's session host directly, no publish on the relay's channels; off, the
// Redis relay carries them as before. Real HTTP, a real redis-server, the real sandbox and the
// python image's ipykernel. The relay's publishes are counted by a pattern subscription on its
// channels (a subscriber of ours: what the worker and the API get is unchanged).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { createLogger } from '../../services/core/logger.ts';
import { connectRedis } from '../../services/core/redis.ts';
import type { LocalSessions } from '../../services/core/session-local.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { liveChannel } from '../../services/core/session-relay.ts';
import { SessionService } from '../../services/core/session-service.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { plain, show } from '../helpers/sessions.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# local-path session tests skipped: ${skip}`);
const real = sb as RealSandbox;

const ENV = { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WORKER_SILENCE_MS: '4000' };

const exec = (s: Stack, id: string, code: string, extra: Record<string, unknown> = {}) => api(s, 'POST', `/v1/sessions/${id}/execute`, { code, ...extra });

async function openSession(s: Stack): Promise<string> {
  const r = await api(s, 'POST', '/v1/sessions', { language: 'python' });
  assert.equal(r.status, 201, show(r));
  return r.body.id as string;
}

/** Messages published on the relay's channels: requests to sessions, answers to API inboxes. */
interface Publishes { requests: number; answers: number; close(): void }

async function countPublishes(s: Stack): Promise<Publishes> {
  const keys = sessionKeys(s.config.keyPrefix);
  const sub = connectRedis(s.redis.url, 'test-relay-publishes');
  const requests = liveChannel(keys.input('*'));
  const answers = liveChannel(keys.inbox('*'));
  const counts = { requests: 0, answers: 0 };
  sub.on('pmessage', (pattern: string) => {
    if (pattern === requests) counts.requests++;
    else if (pattern === answers) counts.answers++;
  });
  await sub.psubscribe(requests, answers);
  return {
    get requests() { return counts.requests; },
    get answers() { return counts.answers; },
    close: () => sub.disconnect(),
  };
}

/** A streamed cell (SSE): its events in order. */
async function streamed(s: Stack, id: string, code: string): Promise<Array<{ event: string; data: any }>> {
  const res = await fetch(`${s.url}/v1/sessions/${id}/execute?stream=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
  assert.equal(res.status, 200);
  return (await res.text()).split('\n\n').filter((b) => b.includes('data:')).map((b) => ({
    event: /event: (\S+)/.exec(b)?.[1] ?? '',
    data: JSON.parse(b.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')),
  }));
}

/**
 * Cells, a streamed cell, files, interrupt and restart, each checked for its answer: 12 requests
 * (6 cells, a put, a list, two gets, an interrupt, a restart).
 */
async function everyKindOfRequest(s: Stack, id: string): Promise<void> {
  for (let i = 1; i <= 3; i++) assert.equal(plain((await exec(s, id, `n = ${i}\nn * 10`)).body), String(i * 10));
  const events = await streamed(s, id, 'print("a", flush=True)\nprint("b")\n7');
  const outputs = events.filter((e) => e.event === 'output').map((e) => e.data);
  assert.equal(outputs.filter((o) => o.type === 'stream').map((o) => o.text).join(''), 'a\nb\n', JSON.stringify(events));
  assert.equal(events.at(-1)?.event, 'result', JSON.stringify(events));
  assert.equal(plain(events.at(-1)!.data), '7');
  const put = await fetch(`${s.url}/v1/sessions/${id}/files/in.txt`, { method: 'PUT', body: 'uploaded' });
  assert.equal(put.status, 201);
  assert.equal(plain((await exec(s, id, 'open("in.txt").read()')).body), "'uploaded'");
  const list = await api(s, 'GET', `/v1/sessions/${id}/files`);
  assert.deepEqual(list.body.files.map((f: any) => f.path), ['in.txt'], show(list));
  assert.equal(await (await fetch(`${s.url}/v1/sessions/${id}/files/in.txt`)).text(), 'uploaded');
  const missing = await fetch(`${s.url}/v1/sessions/${id}/files/nothing.txt`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json() as any).error.code, 'session_file_not_found');
  assert.equal((await api(s, 'POST', `/v1/sessions/${id}/interrupt`)).status, 200);
  const restarted = await api(s, 'POST', `/v1/sessions/${id}/restart`);
  assert.equal(restarted.status, 200, show(restarted));
  const gone = await exec(s, id, 'n');
  assert.equal(gone.body.status, 'error', show(gone));
  assert.equal(gone.body.error.ename, 'NameError');
}

/**
 * A stack with the real sandbox for the enclosing describe, and the relay's publishes counted;
 * stopped, and nothing of it left behind, after the describe's tests.
 */
function withStack(env: Record<string, string>): { readonly s: Stack; readonly publishes: Publishes } {
  let s: Stack | undefined;
  let publishes: Publishes | undefined;
  after(async () => {
    publishes?.close();
    await s?.stop();
  });
  expectNothingLeftBehind('a session left something behind');
  before(async () => {
    s = await startStack({ launcher: real.launcher, registry: real.registry, selfTest: real.selfTest, env: { ...ENV, ...env } });
    publishes = await countPublishes(s);
  });
  return { get s() { return s!; }, get publishes() { return publishes!; } };
}

describe('a session held by the worker in the API\'s process: the local path', { skip }, () => {
  const stack = withStack({});
  let s: Stack;
  let publishes: Publishes;
  before(() => {
    ({ s, publishes } = stack);
    assert.equal(s.config.sessions.localPath, true);
  });

  it('carries every kind of request without a publish on the relay; the record\'s fields are written', async () => {
    const id = await openSession(s);
    const before = (await api(s, 'GET', `/v1/sessions/${id}`)).body;
    const [requests, answers] = [publishes.requests, publishes.answers];
    await everyKindOfRequest(s, id);
    // Fails with the port unwired: each request and answer would be a publish.
    assert.equal(publishes.requests - requests, 0, 'requests published to the session\'s channel');
    assert.equal(publishes.answers - answers, 0, 'answers published to the API\'s inbox');
    // Read right after the answers: the fields they changed are in (a local answer's write is awaited by the read).
    const info = (await api(s, 'GET', `/v1/sessions/${id}`)).body;
    assert.equal(info.cells, 6, show(info));
    assert.ok(Date.parse(info.lastUsedAt) > Date.parse(before.lastUsedAt), show(info));
    assert.ok(info.cpuMs > 0, show(info));
    // And in Redis itself, for any other API process.
    const redis = connectRedis(s.redis.url, 'test-record');
    try {
      assert.equal(await redis.hget(sessionKeys(s.config.keyPrefix).record(id), 'cells'), '6');
    } finally {
      redis.disconnect();
    }
    assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
    const ended = await exec(s, id, '1+1');
    assert.equal(ended.status, 410, show(ended));
    assert.equal(ended.body.error.code, 'session_ended');
  });

  it('runs cells sent at once one at a time, in the order sent', async () => {
    const id = await openSession(s);
    assert.equal((await exec(s, id, 'order = []')).status, 200);
    // One at a time: each cell sees the list as the previous one left it.
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => exec(s, id, `order.append(${i})\nlen(order)`)));
    assert.deepEqual(answers.map((a) => Number(plain(a.body))).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], JSON.stringify(answers.map((a) => a.body)));
    assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
  });

  it('keeps a session\'s order when a command it sent by Redis is still on its way: the next ones follow it there', async () => {
    const id = await openSession(s);
    const keys = sessionKeys(s.config.keyPrefix);
    const redis: Redis = connectRedis(s.redis.url, 'test-order');
    // An API of this process's shape (the same class the stack's uses) whose first request finds
    // the session not local yet (as one sent in the take/ready window would), then the worker's port.
    let firstLook = true;
    const port = s.worker!.localSessions!;
    const local: LocalSessions = { find: (sid) => (firstLook ? (firstLook = false, undefined) : port.find(sid)), written: (sid) => port.written(sid) };
    const svc = new SessionService({ config: s.config, redis, redisUrl: s.redis.url, log: createLogger('silent', 'test'), local });
    try {
      await svc.open();
      assert.equal((await exec(s, id, 'order = []')).status, 200);
      // The first request takes the session's input stream (the slowest way: a fallback's), so
      // a request handed over directly after it would overtake it.
      await redis.hset(keys.record(id), 'viaStream', '1');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => svc.execute(id, { code: `order.append(${i})` })));
      assert.ok(results.every((r) => r.status === 'ok'), JSON.stringify(results));
      const order = await svc.execute(id, { code: 'order' });
      assert.equal(plain(order), '[0, 1, 2, 3, 4, 5, 6, 7]', JSON.stringify(order));
      // The session's commands came by its stream: it stays on the Redis path (no request published, none handed over).
      assert.equal(port.find(id), undefined);
    } finally {
      await svc.shutdown();
      redis.disconnect();
    }
    assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
  });

  it('answers a cell in flight 410 session_ended when the session ends under it, and later requests too', async () => {
    const id = await openSession(s);
    const cell = exec(s, id, 'import time\nopen("started", "w").close()\ntime.sleep(120)');
    // File requests act at once, beside the running cell.
    await waitFor(async () => (await fetch(`${s.url}/v1/sessions/${id}/files/started`)).status === 200, 'the cell to start', 400);
    const closed = await api(s, 'DELETE', `/v1/sessions/${id}`);
    assert.equal(closed.status, 200, show(closed));
    const r = await cell;
    assert.equal(r.status, 410, show(r));
    assert.equal(r.body.error.code, 'session_ended');
    assert.equal(r.body.error.details.reason, 'closed', show(r));
    const later = await exec(s, id, '1+1');
    assert.equal(later.status, 410, show(later));
  });
});

describe('CORRAL_SESSION_LOCAL_PATH=false: the Redis relay carries the requests', { skip }, () => {
  const stack = withStack({ CORRAL_SESSION_LOCAL_PATH: 'false' });
  let s: Stack;
  let publishes: Publishes;
  before(() => { ({ s, publishes } = stack); });

  it('answers every kind of request the same, each published to the session\'s channel and answered to the inbox', async () => {
    const id = await openSession(s);
    const [requests, answers] = [publishes.requests, publishes.answers];
    await everyKindOfRequest(s, id);
    // Each request, and each answer (the streamed cell's outputs are answers too).
    await waitFor(async () => publishes.answers - answers >= 12 + 1, 'the answers\' publishes to be counted', 400);
    assert.equal(publishes.requests - requests, 12);
    const info = (await api(s, 'GET', `/v1/sessions/${id}`)).body;
    assert.equal(info.cells, 6, show(info));
    assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
  });
});
