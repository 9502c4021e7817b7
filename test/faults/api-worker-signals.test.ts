// Issue 22 items 1–2 as an operator sees them: separate `corral api` and `corral worker`
// processes on a private redis-server, real signals, real faults.
// - Worker SIGTERM: after the grace period its runs are stopped (sandboxes killed and removed) and
//   their jobs are back in the queue at once (not after the lock expires); a second SIGTERM skips
//   the grace period.
// - API SIGTERM with `?wait=true` holds open: they answer 202 with their ids and the API exits.
// - Redis killed or hung: every request that needs Redis answers 503 not_ready with Retry-After
//   (never a hang), the API recovers by itself, and no accepted run is lost.
// Times are printed (t.diagnostic), never asserted; the only bound is the hang bound.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redisKeys, type EmbeddedRedis } from '../../services/core/redis.ts';
import { api, startRedis, until, waitFor } from '../e2e/harness.ts';
import { IMAGES_DIR, needs, realSandbox } from '../e2e/real-sandbox.ts';
import { complaints, EXIT_BOUND_MS, exitWithin, killGroup, leftoversOf, spawnCorral, startSleepers, type CorralProcess } from './processes.ts';

const sb = await realSandbox();
const skip = needs(sb, 'bash');
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); });

interface Setup {
  redis: EmbeddedRedis;
  prefix: string;
  env: Record<string, string>;
  queue: Queue;
  apiProcess(env?: Record<string, string>): Promise<{ p: CorralProcess; url: string }>;
  workerProcess(env?: Record<string, string>): Promise<CorralProcess>;
}

async function setup(): Promise<Setup> {
  const redis = await startRedis();
  cleanups.push(async () => { await redis.stop(); await rm(dirname(redis.socketPath), { recursive: true, force: true }); });
  const prefix = `f${randomUUID().slice(0, 8)}`;
  const env = {
    REDIS_URL: redis.url, CORRAL_KEY_PREFIX: prefix, CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_HEARTBEAT_MS: '200',
    // A run left active would come back only after a minute: a prompt requeue is the shutdown's.
    CORRAL_LOCK_DURATION_MS: '60000', CORRAL_STALLED_INTERVAL_MS: '60000',
  };
  const connection = new Redis({ path: redis.socketPath, maxRetriesPerRequest: null });
  connection.on('error', () => {});
  const keys = redisKeys(prefix);
  const queue = new Queue(keys.queue, { connection, prefix: keys.bullPrefix });
  queue.on('error', () => {});
  cleanups.push(async () => { await queue.close(); connection.disconnect(); });
  const track = (p: CorralProcess) => { cleanups.push(async () => killGroup(p)); return p; };
  return {
    redis, prefix, env, queue,
    async apiProcess(extra = {}) {
      const p = track(spawnCorral('api', { ...env, CORRAL_PORT: '0', ...extra }));
      return { p, url: (await p.line('API listening')).url };
    },
    async workerProcess(extra = {}) {
      const p = track(spawnCorral('worker', { ...env, CORRAL_WORKER_SLOTS: '2', CORRAL_POOL_MAX_WARM: '0', ...extra }));
      await p.line('worker started');
      return p;
    },
  };
}

async function states(queue: Queue, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map((id) => queue.getJobState(id)));
}

test('worker SIGTERM: after the grace period its runs are stopped and back in the queue at once; another worker completes each once', { skip }, async (t) => {
  const s = await setup();
  const { url } = await s.apiProcess();
  const w = await s.workerProcess({ CORRAL_SHUTDOWN_GRACE_MS: '500' });
  const ids = await startSleepers(url, 2, 4);
  const t0 = performance.now();
  w.child.kill('SIGTERM');
  const out = await exitWithin(w, t0);
  t.diagnostic(`worker, 2 runs, grace 500 ms: exited ${out.ms} ms after SIGTERM`);
  assert.equal(out.code, 0, complaints(w));
  for (const st of await states(s.queue, ids)) assert.ok(['wait', 'prioritized'].includes(st), `the job is ${st}, not back in the queue`);
  assert.deepEqual(leftoversOf(w.pid), [], 'a stopped run\'s sandbox was left on the host');
  await s.workerProcess();
  for (const [i, id] of ids.entries()) {
    const done = await until({ url }, id);
    assert.equal(done.status, 'completed');
    assert.equal(done.run.stdout, `done-${i}\n`);
    const events = String((await api({ url }, 'GET', `/v1/runs/${id}/events`)).body);
    assert.equal(events.match(/event: completed/g)?.length ?? 0, 1);
  }
});

test('worker: a second SIGTERM skips the grace period', { skip }, async (t) => {
  const s = await setup();
  const { url } = await s.apiProcess();
  const w = await s.workerProcess({ CORRAL_SHUTDOWN_GRACE_MS: String(EXIT_BOUND_MS * 10) });
  const ids = await startSleepers(url, 2, 60);
  const t0 = performance.now();
  w.child.kill('SIGTERM');
  await w.line('worker stopping: no new runs');
  w.child.kill('SIGTERM');
  const out = await exitWithin(w, t0);
  t.diagnostic(`worker, second SIGTERM (grace ${EXIT_BOUND_MS * 10} ms): exited ${out.ms} ms after the first`);
  assert.equal(out.code, 1, `a forced stop exits 1: ${complaints(w)}`);
  for (const st of await states(s.queue, ids)) assert.ok(['wait', 'prioritized'].includes(st), `the job is ${st}, not back in the queue`);
  assert.deepEqual(leftoversOf(w.pid), []);
});

test('API SIGTERM with ?wait=true holds open: each answers 202 with its id, the API exits at once', { skip }, async (t) => {
  const s = await setup();
  const { p, url } = await s.apiProcess({ CORRAL_MAX_WAIT_MS: String(EXIT_BOUND_MS * 10) });
  // No worker: the runs stay queued, so each hold lasts until the shutdown ends it.
  const holds = [0, 1, 2].map(() => api({ url }, 'POST', '/v1/runs?wait=true', { language: 'bash', source: 'echo hi' }));
  await waitFor(async () => Object.values(await s.queue.getJobCounts('wait', 'prioritized')).reduce((a, b) => a + b, 0) === 3, 'the three runs to be queued');
  const t0 = performance.now();
  p.child.kill('SIGTERM');
  const answers = await Promise.all(holds);
  const out = await exitWithin(p, t0);
  t.diagnostic(`api with 3 open holds (max wait ${EXIT_BOUND_MS * 10} ms): exited ${out.ms} ms after SIGTERM`);
  assert.equal(out.code, 0, complaints(p));
  for (const a of answers) {
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(a.body.status, 'queued');
    assert.equal(await s.queue.getJobState(a.body.id), 'prioritized', 'the run stays queued for the workers');
  }
});

/** A request with a client-side hang bound; returns its status, Retry-After and time. */
async function timed(url: string, method: string, path: string, body?: unknown) {
  const t0 = performance.now();
  const res = await fetch(url + path, {
    method, signal: AbortSignal.timeout(EXIT_BOUND_MS),
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const json = await res.json().catch(() => null) as any;
  return { status: res.status, code: json?.error?.code, retryAfter: res.headers.get('retry-after'), ms: Math.round(performance.now() - t0), id: json?.id };
}

async function outageRequests(t: TestContext, label: string, url: string, knownId: string): Promise<void> {
  const asked = [
    ['GET', `/v1/runs/${knownId}`, undefined],
    ['GET', `/v1/runs?ids=${knownId}`, undefined],
    ['POST', '/v1/runs', { language: 'bash', source: 'echo outage' }],
    ['POST', '/v1/runs?wait=true', { language: 'bash', source: 'echo outage' }],
    ['POST', '/v1/runs/batch', { runs: [{ language: 'bash', source: 'echo a' }, { language: 'bash', source: 'echo b' }] }],
    ['DELETE', `/v1/runs/${knownId}`, undefined],
  ] as const;
  const times: string[] = [];
  for (const [method, path, body] of asked) {
    const r = await timed(url, method, path, body);
    times.push(`${method} ${path.replace(knownId, ':id')} ${r.ms} ms`);
    assert.equal(r.status, 503, `${method} ${path}: ${JSON.stringify(r)}`);
    assert.equal(r.code, 'not_ready', `${method} ${path}`);
    assert.ok(r.retryAfter, `${method} ${path}: Retry-After`);
  }
  t.diagnostic(`${label}: ${times.join(', ')}`);
}

test('Redis killed, then back: every request answers 503 not_ready with Retry-After, the API recovers by itself, nothing accepted is lost', { skip }, async (t) => {
  const s = await setup();
  const { url } = await s.apiProcess();
  const w = await s.workerProcess();
  await waitFor(async () => (await api({ url }, 'GET', '/readyz')).status === 200, 'readyz');
  w.child.kill('SIGTERM'); // runs stay queued through the outage
  await exitWithin(w, performance.now());
  const accepted: string[] = [];
  for (let i = 0; i < 3; i++) accepted.push((await api({ url }, 'POST', '/v1/runs', { language: 'bash', source: `echo kept-${i}` })).body.id);
  const pid = s.redis.pid!;
  process.kill(pid, 'SIGKILL');
  await waitFor(async () => { try { process.kill(pid, 0); return false; } catch { return true; } }, 'redis to die');
  await outageRequests(t, 'Redis killed', url, accepted[0]!);
  assert.equal((await api({ url }, 'GET', '/healthz')).status, 200, 'healthz stays 200');
  await s.redis.start(); // same directory: the AOF brings the queued runs back
  const t0 = performance.now();
  const back = await waitFor(async () => { const r = await timed(url, 'POST', '/v1/runs', { language: 'bash', source: 'echo after' }); return r.status === 202 ? r : undefined; }, 'the API to recover');
  t.diagnostic(`recovered ${Math.round(performance.now() - t0)} ms after Redis was back`);
  accepted.push(back.id);
  await s.workerProcess();
  for (const [i, id] of accepted.entries()) {
    const done = await until({ url }, id);
    assert.equal(done.status, 'completed');
    assert.equal(done.run.stdout, i < 3 ? `kept-${i}\n` : 'after\n');
  }
});

test('Redis hung (SIGSTOP), then resumed: requests answer 503 within the timeout instead of waiting, and the API recovers', { skip }, async (t) => {
  const s = await setup();
  const { url } = await s.apiProcess({ CORRAL_API_REDIS_TIMEOUT_MS: '500' });
  const first = await api({ url }, 'POST', '/v1/runs', { language: 'bash', source: 'echo before' });
  assert.equal(first.status, 202);
  const pid = s.redis.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    await outageRequests(t, 'Redis stopped (timeout 500 ms)', url, first.body.id);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const r = await waitFor(async () => { const x = await timed(url, 'GET', `/v1/runs/${first.body.id}`); return x.status === 200 ? x : undefined; }, 'the API to recover');
  assert.equal(r.status, 200);
});

test('corral api started while Redis is unreachable: SIGTERM gives the start up and it exits', { skip: process.getuid?.() === 0 ? false : 'needs root like the other fault tests' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'corral-no-redis-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const p = spawnCorral('api', { REDIS_URL: `unix://${join(dir, 'nobody.sock')}`, CORRAL_PORT: '0' });
  cleanups.push(async () => killGroup(p));
  await p.line('starting');
  const t0 = performance.now();
  p.child.kill('SIGTERM');
  const out = await exitWithin(p, t0);
  t.diagnostic(`api waiting for Redis at start: exited ${out.ms} ms after SIGTERM`);
  assert.equal(out.signal, null, 'exited by itself, not killed by the signal');
  assert.equal(out.code, 1, `a start given up exits 1: ${complaints(p)}`);
});
