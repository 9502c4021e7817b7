// Issue 23: `corral up` stops when SIGTERM reaches its whole process group (systemd's
// KillMode=control-group sends it to every process, `docker stop` of an npm init and a
// terminal's Ctrl-C to the group), at any moment: idle, while the warm pool builds, with runs in
// flight, with its Redis killed first; and a second signal always ends it within a few seconds.
// Each time: it exits (the bound is a hang bound, not a timing target), its embedded Redis is
// stopped, nothing of it is left on the host (no process, cgroup, mount or volume), and runs that
// were accepted are not lost: a new `corral up` on the same data directory completes them once.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, until, waitFor } from '../e2e/harness.ts';
import { IMAGES_DIR, needs, realSandbox } from '../e2e/real-sandbox.ts';
import { alive, complaints, exitWithin, killGroup, leftoversOf, spawnCorral, startSleepers, type CorralProcess } from './processes.ts';

const sb = await realSandbox();
const skip = needs(sb, 'bash');
const dirs: string[] = [];
const started: CorralProcess[] = [];
after(async () => {
  for (const p of started) killGroup(p);
  for (const p of started) {
    const redisPid = p.lines.find((l) => l.msg === 'embedded redis started')?.pid;
    if (redisPid && alive(redisPid)) process.kill(redisPid, 'SIGKILL');
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function up(env: Record<string, string> = {}, dataDir?: string): Promise<{ p: CorralProcess; url: string; redisPid: number; dataDir: string }> {
  const dir = dataDir ?? await mkdtemp(join(tmpdir(), 'corral-up-signals-'));
  if (!dataDir) dirs.push(dir);
  const p = spawnCorral('up', {
    CORRAL_DATA_DIR: dir, CORRAL_PORT: '0', CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_WORKER_SLOTS: '2',
    CORRAL_POOL_MAX_WARM: '0', CORRAL_HEARTBEAT_MS: '200', ...env,
  });
  started.push(p);
  const listening = await p.line('API listening');
  const redis = await p.line('embedded redis started');
  return { p, url: listening.url, redisPid: redis.pid, dataDir: dir };
}

/** After the exit: Redis stopped, nothing of this Corral left on the host. */
function assertClean(p: CorralProcess, redisPid: number): void {
  assert.equal(alive(redisPid), false, 'the embedded redis-server was stopped');
  assert.deepEqual(leftoversOf(p.pid), [], 'something of the stopped Corral was left on the host');
}

/** A new `corral up` on the same data directory completes the runs, each exactly once. */
async function completesOnRestart(dataDir: string, ids: string[]): Promise<void> {
  const { p, url, redisPid } = await up({}, dataDir);
  try {
    for (const [i, id] of ids.entries()) {
      const done = await until({ url }, id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.run.stdout, `done-${i}\n`);
      const events = (await api({ url }, 'GET', `/v1/runs/${id}/events`)).body;
      const text = typeof events === 'string' ? events : JSON.stringify(events);
      assert.equal(text.match(/event: completed/g)?.length ?? 0, 1, `one completion for ${id}`);
    }
  } finally {
    p.signalGroup('SIGTERM');
    await exitWithin(p, performance.now());
    assertClean(p, redisPid);
  }
}

function report(t: TestContext, what: string, ms: number): void {
  t.diagnostic(`${what}: exited ${ms} ms after the signal`);
}

test('group SIGTERM while starting (Redis up, the worker not yet): the start completes, then everything stops', { skip }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'corral-up-signals-'));
  dirs.push(dataDir);
  const p = spawnCorral('up', { CORRAL_DATA_DIR: dataDir, CORRAL_PORT: '0', CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_POOL_MAX_WARM: '2' });
  started.push(p);
  const redis = await p.line('embedded redis started');
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'starting', out.ms);
  assert.equal(out.code, 0, complaints(p));
  assertClean(p, redis.pid);
});

test('group SIGTERM while idle: exits 0, Redis stopped last, nothing left', { skip }, async (t) => {
  const { p, url, redisPid } = await up();
  await waitFor(async () => (await api({ url }, 'GET', '/readyz')).status === 200, 'readyz');
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'idle', out.ms);
  assert.equal(out.code, 0, complaints(p));
  assertClean(p, redisPid);
  // The order the docs promise: the worker and the core were done before Redis was stopped.
  const order = p.lines.map((l) => l.msg);
  assert.ok(order.indexOf('worker stopped') >= 0, 'the worker says it stopped');
  assert.ok(!p.lines.some((l) => /redis (connection|subscriber) error/.test(l.msg ?? '')), `Redis went away under Corral: ${JSON.stringify(p.lines.filter((l) => /redis/.test(l.msg ?? '')))}`);
});

test('group SIGTERM while the warm pool builds: exits 0, every warm container removed', { skip }, async (t) => {
  const { p, url, redisPid } = await up({ CORRAL_POOL_MAX_WARM: '4', CORRAL_POOL_MAX_PER_IMAGE: '4' });
  // Runs make demand; each answer sets the pool building its next containers.
  await Promise.all([0, 1, 2, 3].map((i) => api({ url }, 'POST', '/v1/runs?wait=true', { language: 'bash', source: `echo ${i}` })));
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'pool building', out.ms);
  assert.equal(out.code, 0, complaints(p));
  assertClean(p, redisPid);
});

test('group SIGTERM with runs in flight: after the grace period they are stopped and requeued; none is lost', { skip }, async (t) => {
  const { p, url, redisPid, dataDir } = await up({ CORRAL_SHUTDOWN_GRACE_MS: '500' });
  const ids = await startSleepers(url, 2, 5);
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'runs in flight (grace 500 ms)', out.ms);
  assert.equal(out.code, 0, complaints(p));
  assert.equal(p.lines.filter((l) => l.msg === 'run stopped by the shutdown; back in the queue').length, 2, 'both runs were put back in the queue');
  assertClean(p, redisPid);
  await completesOnRestart(dataDir, ids);
});

test('Redis killed first, then group SIGTERM with a run in flight: exits, nothing left', { skip }, async (t) => {
  const { p, url, redisPid } = await up({ CORRAL_SHUTDOWN_GRACE_MS: '1000' });
  await startSleepers(url, 1, 30);
  process.kill(redisPid, 'SIGKILL');
  await waitFor(async () => !alive(redisPid), 'redis to die');
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'Redis killed first', out.ms);
  assert.equal(out.signal, null, 'exited by itself');
  assert.deepEqual(leftoversOf(p.pid), [], 'the run\'s sandbox was left on the host');
});

test('a second group SIGTERM skips the grace period: runs stopped and requeued, exit within the bound', { skip }, async (t) => {
  const { p, url, redisPid, dataDir } = await up({ CORRAL_SHUTDOWN_GRACE_MS: '120000' });
  const ids = await startSleepers(url, 2, 5);
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  await p.line('worker stopping: no new runs');
  p.signalGroup('SIGTERM');
  const out = await exitWithin(p, t0);
  report(t, 'second signal (grace 120 s)', out.ms);
  assert.equal(out.code, 1, `a forced stop exits 1: ${complaints(p)}`);
  assertClean(p, redisPid);
  await completesOnRestart(dataDir, ids);
});

test('Redis killed first, then two group SIGTERMs with runs in flight: exits within the bound, nothing left', { skip }, async (t) => {
  const { p, url, redisPid } = await up({ CORRAL_SHUTDOWN_GRACE_MS: '120000' });
  await startSleepers(url, 2, 30);
  process.kill(redisPid, 'SIGKILL');
  await waitFor(async () => !alive(redisPid), 'redis to die');
  const t0 = performance.now();
  p.signalGroup('SIGTERM');
  await p.line('shutting down');
  p.signalGroup('SIGINT');
  const out = await exitWithin(p, t0);
  report(t, 'Redis killed first + second signal', out.ms);
  assert.equal(out.signal, null, 'exited by itself');
  assert.deepEqual(leftoversOf(p.pid), [], 'a run\'s sandbox was left on the host');
});
