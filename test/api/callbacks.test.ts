// Callbacks to local HTTP servers: delivered once with the result, retried after failures, given
// up on a dead receiver without losing the run, and never holding a sandbox slot.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { api, startRedis, startStack, until, waitFor, type Stack } from '../e2e/harness.ts';
import { fakeLauncher, fakeRegistry } from '../worker/fakes.ts';
import { redisKeys } from '../../services/core/redis.ts';

interface Receiver { url: string; hits: Array<{ method: string; body: any }>; server: Server; pending: ServerResponse[] }

async function receiver(handle: (n: number, res: ServerResponse, r: Receiver) => void): Promise<Receiver> {
  const r: Receiver = { url: '', hits: [], server: undefined as unknown as Server, pending: [] };
  r.server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      r.hits.push({ method: req.method!, body: JSON.parse(body) });
      handle(r.hits.length, res, r);
    });
  });
  await new Promise<void>((res) => r.server.listen(0, '127.0.0.1', res));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hook`;
  return r;
}
const close = (r: Receiver) => new Promise<void>((res) => { for (const p of r.pending) p.destroy(); r.server.close(() => res()); r.server.closeAllConnections(); });

let s: Stack;
before(async () => {
  s = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), env: { CORRAL_CALLBACK_ATTEMPTS: '3', CORRAL_WORKER_SLOTS: '1', CORRAL_CALLBACK_TIMEOUT_MS: '60000' } });
});
after(async () => { await s.stop(); });

test('callback: POSTed once with the final result', async () => {
  const rx = await receiver((_n, res) => res.end('ok'));
  try {
    const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{"stdout":"cb"}', callbackUrl: rx.url });
    await until(s, r.body.id);
    await waitFor(async () => rx.hits.length >= 1, 'the callback');
    assert.equal(rx.hits[0]!.method, 'POST');
    assert.equal(rx.hits[0]!.body.id, r.body.id);
    assert.equal(rx.hits[0]!.body.status, 'completed');
    assert.equal(rx.hits[0]!.body.run.stdout, 'cb');
    // A second run proves the queue moved on; the first callback was not repeated.
    const r2 = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: '{}', callbackUrl: rx.url, callbackMethod: 'PUT' });
    await waitFor(async () => rx.hits.length >= 2, 'the second callback');
    assert.equal(rx.hits.filter((h) => h.body.id === r.body.id).length, 1);
    assert.equal(rx.hits[1]!.method, 'PUT');
    assert.equal(rx.hits[1]!.body.id, r2.body.id);
  } finally { await close(rx); }
});

test('callback of a run cancelled while queued: the API ends it, a worker delivers its callback once, status cancelled', async () => {
  const rx = await receiver((_n, res) => res.end('ok'));
  try {
    // The only slot is held, so the second run stays queued until it is cancelled.
    const holding = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{"sleepMs":60000}' });
    await waitFor(async () => (await api(s, 'GET', `/v1/runs/${holding.body.id}`)).body.status === 'running', 'the slot held');
    const queued = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', callbackUrl: rx.url, callbackMethod: 'PUT' });
    assert.equal(queued.status, 202);
    const cancelled = await api(s, 'DELETE', `/v1/runs/${queued.body.id}`);
    assert.equal(cancelled.body.status, 'cancelled');
    assert.equal(cancelled.body.error?.message, 'cancelled while queued');
    await waitFor(async () => rx.hits.length >= 1, 'the cancelled run\'s callback');
    assert.equal(rx.hits[0]!.method, 'PUT');
    assert.equal(rx.hits[0]!.body.id, queued.body.id);
    assert.equal(rx.hits[0]!.body.status, 'cancelled');
    // Freeing the slot runs nothing more for it: one callback, never a second.
    await api(s, 'DELETE', `/v1/runs/${holding.body.id}`);
    await until(s, holding.body.id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(rx.hits.length, 1);
  } finally { await close(rx); }
});

test('callback: the body is the stored result\'s bytes, and the queued callback holds only the run\'s id', async () => {
  // Raw bodies; each request is held until the job's data has been read.
  const bodies: Buffer[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => { bodies.push(Buffer.concat(chunks)); held.push(res); });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const client = new Redis({ path: s.redis.socketPath, maxRetriesPerRequest: null });
  try {
    const out = 'x'.repeat(200_000);
    const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: JSON.stringify({ stdout: out }), callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
    await until(s, r.body.id);
    await waitFor(async () => bodies.length >= 1, 'the callback');
    // The job, active while its request is held: the run's id, not its result (kept once, in the run's record).
    const keys = redisKeys(s.config.keyPrefix);
    const data = await client.hget(`${keys.bullPrefix}:${keys.callbackQueue}:cb-${r.body.id}`, 'data');
    assert.ok(data && data.length < 1000, `the callback job holds ${data?.length} bytes`);
    assert.equal(JSON.parse(data).runId, r.body.id);
    const stored = await client.hgetBuffer(keys.run(r.body.id), 'result');
    assert.ok(stored && bodies[0]!.equals(stored), 'the body is not the stored result');
    assert.equal(JSON.parse(bodies[0]!.toString()).run.stdout, out);
  } finally {
    for (const res of held) res.end();
    client.disconnect();
    await new Promise<void>((res) => { server.close(() => res()); server.closeAllConnections(); });
  }
});

test('callback: retried with backoff after 500s until it succeeds', async () => {
  const rx = await receiver((n, res) => { res.statusCode = n < 3 ? 500 : 204; res.end(); });
  try {
    const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', callbackUrl: rx.url });
    await waitFor(async () => rx.hits.length >= 3, 'three callback attempts');
    assert.ok(rx.hits.every((h) => h.body.id === r.body.id));
    const m = await api(s, 'GET', '/metrics');
    await waitFor(async () => /corral_callbacks_total\{outcome="delivered"\} [1-9]/.test((await api(s, 'GET', '/metrics')).body), 'delivered metric');
    assert.match(m.body, /corral_callbacks_total\{outcome="retried"\} [1-9]/);
  } finally { await close(rx); }
});

test('callback to a receiver that is down: the run is complete, the callback is given up after its attempts', async () => {
  const rx = await receiver((_n, res) => res.end());
  const deadUrl = rx.url;
  await close(rx);
  const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', callbackUrl: deadUrl });
  const done = await until(s, r.body.id);
  assert.equal(done.status, 'completed');
  await waitFor(async () => /corral_callbacks_total\{outcome="given_up"\} [1-9]/.test((await api(s, 'GET', '/metrics')).body), 'given-up metric');
});

test('a hanging receiver does not hold the only sandbox slot', async () => {
  const rx = await receiver((_n, res, r) => { r.pending.push(res); });
  try {
    const a = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{}', callbackUrl: rx.url });
    await until(s, a.body.id);
    await waitFor(async () => rx.hits.length >= 1, 'the hanging callback');
    const b = await api(s, 'POST', '/v1/runs?wait=true', { language: 'fake', source: '{"stdout":"b"}' });
    assert.equal(b.status, 200);
    assert.equal(b.body.run.stdout, 'b');
    assert.equal(rx.pending.length, 1, 'the first callback is still unanswered');
  } finally { await close(rx); }
});

const delivered = async (st: Stack): Promise<number> =>
  Number(/corral_callbacks_total\{outcome="delivered"\} (\d+)/.exec((await api(st, 'GET', '/metrics')).body)?.[1] ?? 0);

test('callbackFormat judge0: one PUT of Judge0\'s default fields in base64; any answer counts, as in Judge0', async () => {
  const rx = await receiver((_n, res) => { res.statusCode = 500; res.end(); });
  try {
    const before = await delivered(s);
    const r = await api(s, 'POST', '/v1/runs', { language: 'fake', source: '{"stdout":"hi\\n","exitCode":3}', callbackUrl: rx.url, callbackMethod: 'PUT', callbackFormat: 'judge0' });
    assert.equal(r.status, 202);
    await waitFor(async () => (await delivered(s)) > before, 'the Judge0 callback to be delivered');
    // The callback job is complete (removed): a 500 is not retried.
    assert.equal(rx.hits.length, 1);
    assert.equal(rx.hits[0]!.method, 'PUT');
    const body = rx.hits[0]!.body;
    assert.deepEqual(Object.keys(body).sort(), ['compile_output', 'memory', 'message', 'status', 'stderr', 'stdout', 'time', 'token']);
    assert.equal(body.token, r.body.id);
    assert.equal(body.stdout, 'aGkK\n');
    assert.deepEqual(body.status, { id: 11, description: 'Runtime Error (NZEC)' });
    assert.equal(typeof body.time, 'string');
  } finally { await close(rx); }
});

test('a Judge0 callback does not depend on the API process that accepted the run', async () => {
  const rx = await receiver((_n, res) => { res.end(); });
  const redis = await startRedis();
  const env = { CORRAL_KEY_PREFIX: `cb${randomUUID().slice(0, 8)}` };
  let worker: Stack | undefined;
  try {
    // An API process without workers accepts the run, then stops for good.
    const apiOnly = await startStack({ redis, env });
    const r = await api(apiOnly, 'POST', '/v1/runs', { language: 'fake', source: '{"stdout":"late"}', callbackUrl: rx.url, callbackMethod: 'PUT', callbackFormat: 'judge0' });
    assert.equal(r.status, 202);
    await apiOnly.stop();
    assert.equal(rx.hits.length, 0);
    // A worker started afterwards runs it and sends Judge0's PUT.
    worker = await startStack({ redis, env, launcher: fakeLauncher(), registry: fakeRegistry() });
    await waitFor(async () => rx.hits.length >= 1, 'the Judge0 callback');
    assert.equal(rx.hits[0]!.method, 'PUT');
    assert.equal(rx.hits[0]!.body.token, r.body.id);
    assert.equal(Buffer.from(rx.hits[0]!.body.stdout, 'base64').toString(), 'late');
    assert.deepEqual(rx.hits[0]!.body.status, { id: 3, description: 'Accepted' });
  } finally {
    await worker?.stop();
    await redis.stop();
    await rm(dirname(redis.socketPath), { recursive: true, force: true });
    await close(rx);
  }
});

test('results expire after CORRAL_RESULT_TTL_SECONDS', async () => {
  const s2 = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), env: { CORRAL_RESULT_TTL_SECONDS: '1' } });
  try {
    const r = await api(s2, 'POST', '/v1/runs?wait=true', { language: 'fake', source: '{}' });
    assert.equal(r.status, 200);
    assert.equal((await api(s2, 'GET', `/v1/runs/${r.body.id}`)).status, 200);
    await waitFor(async () => (await api(s2, 'GET', `/v1/runs/${r.body.id}`)).status === 404, 'the result to expire');
    assert.equal(await s2.core.redis.exists(s2.core.keys.events(r.body.id)), 0, 'its events expired too');
  } finally {
    await s2.stop();
  }
});

test('CORRAL_CALLBACK_BLOCKED_NETWORKS: a callback into a blocked network is refused once, not retried; the run is complete', async () => {
  const rx = await receiver((_n, res) => res.end('ok'));
  const s2 = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry(), env: { CORRAL_CALLBACK_BLOCKED_NETWORKS: '127.0.0.0/8,::1/128', CORRAL_CALLBACK_ATTEMPTS: '3' } });
  try {
    // By name too: localhost resolves into the blocked network.
    for (const url of [rx.url, rx.url.replace('127.0.0.1', 'localhost')]) {
      const r = await api(s2, 'POST', '/v1/runs?wait=true', { language: 'fake', source: '{}', callbackUrl: url });
      assert.equal(r.body.status, 'completed');
    }
    await waitFor(async () => /corral_callbacks_total\{outcome="refused"\} 2/.test((await api(s2, 'GET', '/metrics')).body), 'two refused callbacks');
    const m = (await api(s2, 'GET', '/metrics')).body as string;
    assert.doesNotMatch(m, /corral_callbacks_total\{outcome="retried"\} [1-9]/);
    assert.equal(rx.hits.length, 0);
  } finally {
    await s2.stop();
    await close(rx);
  }
});
