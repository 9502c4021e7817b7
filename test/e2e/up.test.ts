// `corral up`: embedded Redis + API + worker from one command; SIGTERM stops all of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, spawnCorralUp, waitFor } from './harness.ts';
import { IMAGES_DIR, needs, realSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
/** Alive and not a zombie: an orphan that exited waits for pid 1 to reap it, which may take a while here. */
const running = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
};

test('corral up serves runs with an embedded Redis and stops everything on SIGTERM', { skip: needs(sb, 'bash') }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'corral-up-'));
  const { child, lines, exit } = spawnCorralUp({ CORRAL_DATA_DIR: dataDir, CORRAL_PORT: '0', CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_LOG_LEVEL: 'info', CORRAL_WORKER_SLOTS: '1' });
  try {
    const listening = await waitFor(async () => lines.find((l) => l.msg === 'API listening'), 'the API to listen');
    const redisLine = lines.find((l) => l.msg === 'embedded redis started');
    assert.ok(redisLine, 'an embedded redis was started');
    assert.ok(alive(redisLine.pid));
    assert.ok((await stat(join(dataDir, 'redis', 'redis.sock'))).isSocket());
    const s = { url: listening.url as string };
    const r = await api(s, 'POST', '/v1/runs?wait=true', { language: 'bash', source: 'echo up' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.run.stdout, 'up\n');
    // Written right after the result; the HTTP answer may overtake it.
    await waitFor(async () => lines.some((l) => l.runId === r.body.id && l.msg === 'run finished'), 'a "run finished" line with the run id');
    assert.ok(lines.some((l) => l.runId === r.body.id && l.msg === 'run started'));
    await waitFor(async () => (await api(s, 'GET', '/readyz')).status === 200, 'readyz');
    child.kill('SIGTERM');
    assert.equal(await exit, 0);
    assert.equal(alive(redisLine.pid), false, 'the embedded redis stopped with corral');
    assert.ok((await stat(join(dataDir, 'redis', 'appendonlydir'))).isDirectory(), 'AOF persistence is on');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    const redisPid = lines.find((l) => l.msg === 'embedded redis started')?.pid;
    if (redisPid && alive(redisPid)) process.kill(redisPid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('an embedded redis stops by itself when its corral is killed by SIGKILL', { skip: needs(sb, 'bash') }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'corral-up-'));
  const { child, lines, exit } = spawnCorralUp({ CORRAL_DATA_DIR: dataDir, CORRAL_PORT: '0', CORRAL_IMAGES_DIR: IMAGES_DIR, CORRAL_LOG_LEVEL: 'info', CORRAL_WORKER_SLOTS: '1' });
  let redisPid: number | undefined;
  try {
    await waitFor(async () => lines.find((l) => l.msg === 'API listening'), 'the API to listen');
    redisPid = lines.find((l) => l.msg === 'embedded redis started')?.pid;
    assert.ok(redisPid && alive(redisPid), 'an embedded redis was started');
    child.kill('SIGKILL');
    await exit.catch(() => undefined);
    // Its parent-death signal (SIGTERM) ends it; without it, it would run until a later start.
    await waitFor(async () => !running(redisPid!) || undefined, 'the orphaned redis-server to exit');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (redisPid && alive(redisPid)) process.kill(redisPid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('a redis-server left behind by a killed corral is stopped before a new one starts', { skip: process.getuid?.() === 0 ? false : 'needs root for /proc checks of other processes' }, async () => {
  const { EmbeddedRedis } = await import('../../services/core/redis.ts');
  const dir = await mkdtemp(join(tmpdir(), 'corral-leftover-'));
  const a = new EmbeddedRedis({ dir });
  const b = new EmbeddedRedis({ dir });
  try {
    await a.start();
    const oldPid = a.pid!;
    await b.start(); // as if the corral owning `a` had been SIGKILLed
    assert.equal(alive(oldPid), false, 'the leftover redis-server was stopped');
    assert.ok(alive(b.pid!));
  } finally {
    await b.stop();
    await a.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
