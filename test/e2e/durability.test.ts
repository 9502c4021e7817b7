// Nothing is lost: a worker SIGKILLed mid-run → the run is picked up again and completes exactly
// once; the embedded Redis restarted with runs queued → they survive (AOF) and complete.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { api, startRedis, startStack, until, waitFor } from './harness.ts';
import { IMAGES_DIR, needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const CORRAL = fileURLToPath(new URL('../../bin/corral', import.meta.url));
const children: ChildProcess[] = [];
after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

function workerProcess(redisUrl: string, prefix: string, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(CORRAL, ['worker'], {
    env: {
      PATH: process.env.PATH, REDIS_URL: redisUrl, CORRAL_KEY_PREFIX: prefix, CORRAL_IMAGES_DIR: IMAGES_DIR,
      CORRAL_LOG_LEVEL: process.env.CORRAL_TEST_LOG ?? 'silent', CORRAL_WORKER_SLOTS: '1',
      CORRAL_LOCK_DURATION_MS: '2000', CORRAL_STALLED_INTERVAL_MS: '1000', CORRAL_HEARTBEAT_MS: '200',
      CORRAL_CALLBACK_BACKOFF_MS: '50', ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  return child;
}
const exited = (c: ChildProcess) => new Promise<void>((r) => { if (c.exitCode !== null || c.signalCode !== null) r(); else c.once('exit', () => r()); });

test('a worker SIGKILLed mid-run: the run completes exactly once on another worker', { skip: needs(sb, 'bash') }, async () => {
  const prefix = `k${randomUUID().slice(0, 8)}`;
  const s = await startStack({ env: { CORRAL_KEY_PREFIX: prefix } });
  const hooks: any[] = [];
  const rx = createServer((req, res) => { let b = ''; req.on('data', (d) => { b += d; }); req.on('end', () => { hooks.push(JSON.parse(b)); res.end(); }); });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  try {
    const first = workerProcess(s.redis.url, prefix);
    await waitFor(async () => (await s.core.directory.fresh()).length === 1, 'the first worker');
    const q = await api(s, 'POST', '/v1/runs', {
      language: 'bash', source: 'echo begin; sleep 2; echo end', limits: { wallMs: 30_000 },
      callbackUrl: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/`,
    });
    await waitFor(async () => (await api(s, 'GET', `/v1/runs/${q.body.id}`)).body.status === 'running', 'the run to start');
    first.kill('SIGKILL');
    await exited(first);
    const second = workerProcess(s.redis.url, prefix);
    const done = await until(s, q.body.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.verdict, 'accepted');
    assert.equal(done.run.stdout, 'begin\nend\n');
    const events = await s.core.store.events(q.body.id);
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'started').length, 2, types.join(','));
    assert.equal(types.filter((t) => ['completed', 'failed', 'cancelled'].includes(t)).length, 1, types.join(','));
    await waitFor(async () => hooks.length >= 1, 'the callback');
    // Give a duplicate every chance to show up: another run through the same worker and its callback.
    const q2 = await api(s, 'POST', '/v1/runs?wait=true', { language: 'bash', source: 'true', callbackUrl: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/` });
    await waitFor(async () => hooks.length >= 2, 'the second callback');
    assert.equal(hooks.filter((h) => h.id === q.body.id).length, 1);
    assert.equal(q2.body.status, 'completed');
    second.kill('SIGTERM');
    await exited(second);
    assert.equal(second.exitCode, 0, 'SIGTERM exits cleanly');
  } finally {
    await new Promise<void>((r) => rx.close(() => r()));
    await s.stop();
  }
});

test('embedded Redis restarted with runs queued: they survive and complete', { skip: needs(sb, 'bash') }, async () => {
  const prefix = `r${randomUUID().slice(0, 8)}`;
  const redis = await startRedis();
  let s = await startStack({ redis, env: { CORRAL_KEY_PREFIX: prefix } });
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) ids.push((await api(s, 'POST', '/v1/runs', { language: 'bash', source: `echo run ${i}` })).body.id);
    await s.stop();
    const pidBefore = redis.pid;
    await redis.stop();
    await redis.start();
    assert.notEqual(redis.pid, pidBefore);
    const r = sb as RealSandbox;
    s = await startStack({ redis, launcher: r.launcher, registry: r.registry, env: { CORRAL_KEY_PREFIX: prefix } });
    for (let i = 0; i < 3; i++) {
      const done = await until(s, ids[i]!);
      assert.equal(done.status, 'completed');
      assert.equal(done.run.stdout, `run ${i}\n`);
    }
  } finally {
    await s.stop();
    await redis.stop();
    await rm(dirname(redis.socketPath), { recursive: true, force: true });
  }
});

test('SIGTERM lets the active run finish, then the worker exits 0', { skip: needs(sb, 'bash') }, async () => {
  const prefix = `g${randomUUID().slice(0, 8)}`;
  const s = await startStack({ env: { CORRAL_KEY_PREFIX: prefix } });
  try {
    const w = workerProcess(s.redis.url, prefix, { CORRAL_SHUTDOWN_GRACE_MS: '60000' });
    await waitFor(async () => (await s.core.directory.fresh()).length === 1, 'the worker');
    const q = await api(s, 'POST', '/v1/runs', { language: 'bash', source: 'sleep 1; echo finished', limits: { wallMs: 30_000 } });
    await waitFor(async () => (await api(s, 'GET', `/v1/runs/${q.body.id}`)).body.status === 'running', 'the run to start');
    w.kill('SIGTERM');
    await exited(w);
    assert.equal(w.exitCode, 0);
    const r = (await api(s, 'GET', `/v1/runs/${q.body.id}`)).body;
    assert.equal(r.status, 'completed', 'finished before the worker exited');
    assert.equal(r.run.stdout, 'finished\n');
    // And it took no new run after the SIGTERM: one queued now stays queued.
    const q2 = await api(s, 'POST', '/v1/runs', { language: 'bash', source: 'true' });
    assert.equal((await api(s, 'GET', `/v1/runs/${q2.body.id}`)).body.status, 'queued');
  } finally {
    await s.stop();
  }
});

test('SIGTERM with a short grace period: the unfinished run is requeued and completes once elsewhere', { skip: needs(sb, 'bash') }, async () => {
  const prefix = `q${randomUUID().slice(0, 8)}`;
  const s = await startStack({ env: { CORRAL_KEY_PREFIX: prefix } });
  try {
    const w = workerProcess(s.redis.url, prefix, { CORRAL_SHUTDOWN_GRACE_MS: '100' });
    await waitFor(async () => (await s.core.directory.fresh()).length === 1, 'the worker');
    const q = await api(s, 'POST', '/v1/runs', { language: 'bash', source: 'sleep 5; echo finished', limits: { wallMs: 30_000 } });
    await waitFor(async () => (await api(s, 'GET', `/v1/runs/${q.body.id}`)).body.status === 'running', 'the run to start');
    w.kill('SIGTERM');
    await exited(w);
    assert.equal((await api(s, 'GET', `/v1/runs/${q.body.id}`)).body.status, 'running', 'the worker left before the run ended');
    workerProcess(s.redis.url, prefix);
    const done = await until(s, q.body.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.run.stdout, 'finished\n');
    const types = (await s.core.store.events(q.body.id)).map((e) => e.type);
    assert.equal(types.filter((t) => t === 'completed').length, 1, types.join(','));
    assert.equal(types.filter((t) => t === 'started').length, 2, types.join(','));
  } finally {
    await s.stop();
  }
});
