// A session whose job a worker took but never started (the worker died between BullMQ's take and
// its "taken" write) must not hold POST /v1/sessions forever: the job is active (not removable)
// and nobody writes the record, so the API's wait ends at the start bound (the queue wait + the
// start timeout) with 503 session_start_failed, reason worker_lost, and the record ended.
// Real Redis, the real API stack, a real BullMQ worker standing in for the one that died.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { connectRedis } from '../../services/core/redis.ts';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { api, startRedis, startStack, type Stack } from '../e2e/harness.ts';

describe('a session taken by a worker that never starts it (real Redis, no sandbox)', () => {
  const prefix = `tb${Math.random().toString(16).slice(2, 8)}`;
  const env = { CORRAL_KEY_PREFIX: prefix, CORRAL_SESSION_QUEUE_WAIT_MS: '200', CORRAL_SESSION_START_TIMEOUT_MS: '1000', CORRAL_SESSION_WORKER_SILENCE_MS: '60000' };
  let dir: string | undefined;
  let server: Awaited<ReturnType<typeof startRedis>> | undefined;
  let stack: Stack | undefined;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-start-bound-'));
    server = await startRedis(dir);
    stack = await startStack({ redis: server, worker: false, env });
  });
  after(async () => {
    await stack?.stop();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 session_start_failed (worker_lost) at the start bound, and ends the record', { timeout: 30_000 }, async () => {
    const keys = sessionKeys(prefix);
    const redis = connectRedis(server!.url, 'test-start-bound');
    // A worker entry with a free slot (so the API queues the session), and a BullMQ worker that
    // takes the job and never returns from it: the worker that died after its take.
    await redis.hset(keys.workers, 'gone', JSON.stringify({ slots: 1, held: 0, at: Date.now() }));
    let took: string | undefined;
    const takerConnection = connectRedis(server!.url, 'test-start-bound-taker');
    const taker = new Worker(keys.queue, async (job) => {
      took = job.id;
      await new Promise(() => {});
    }, { connection: takerConnection, prefix: keys.bullPrefix, lockDuration: 60_000 });
    try {
      const r = await api(stack!, 'POST', '/v1/sessions', { language: 'python' });
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'session_start_failed');
      assert.equal(r.body.error.details.reason, 'worker_lost');
      assert.ok(took, 'the stand-in worker took the job');
      const id = r.body.error.details.id as string;
      assert.equal(id, took);
      const record = await redis.hgetall(keys.record(id));
      assert.equal(record.status, 'ended');
      assert.equal(record.endedReason, 'worker_lost');
      const info = await api(stack!, 'GET', `/v1/sessions/${id}`);
      assert.equal(info.body.status, 'ended');
    } finally {
      await taker.close(true);
      takerConnection.disconnect();
      await redis.hdel(keys.workers, 'gone');
      redis.disconnect();
    }
  });
});
