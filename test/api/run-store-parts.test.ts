// A big result goes to Redis as its bytes, written to the socket as they are (redis-parts.ts):
// stored exactly, the transition's checks and events as for any result, and a Redis that lost
// its scripts (restarted, SCRIPT FLUSH) gets the script loaded again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { redisKeys, type EmbeddedRedis } from '../../services/core/redis.ts';
import { RunStore } from '../../services/core/run-store.ts';
import type { RunResult } from '../../services/core/schemas.ts';
import { startRedis } from '../e2e/harness.ts';

let redis: EmbeddedRedis;
let client: Redis;
before(async () => {
  redis = await startRedis();
  client = new Redis({ path: redis.socketPath, maxRetriesPerRequest: null });
});
after(async () => {
  client.disconnect();
  await redis.stop();
  await rm(dirname(redis.socketPath), { recursive: true, force: true });
});

/** A result's JSON of about `bytes`, with bytes of every value in its output (base64). */
function bigJson(id: string, bytes: number): Buffer {
  const out = randomBytes(Math.floor(bytes * 3 / 4)).toString('base64');
  return Buffer.from(JSON.stringify({ id, status: 'completed', run: { stdout: out, encoding: 'base64' }, createdAt: new Date().toISOString() }));
}

test('a big result is stored byte for byte, its event appended; a refused transition writes nothing', async () => {
  const keys = redisKeys(`p${randomUUID().slice(0, 8)}`);
  const store = new RunStore(client, keys, 60);
  const id = randomUUID();
  const queued = { id, status: 'queued', language: 'x', verdict: null, compile: null, run: null, tests: null, files: [], error: null, createdAt: new Date().toISOString(), startedAt: null, finishedAt: null, queueWaitMs: null } satisfies RunResult;
  assert.ok(await store.transition(id, [], 'queued', queued, { type: 'queued' }) > 0);
  const json = bigJson(id, 3 * 1024 * 1024);
  const seq = await store.transition(id, ['queued'], 'completed', json, { type: 'completed' });
  assert.equal(seq, 2);
  assert.ok((await store.getJson(id))!.equals(json));
  assert.deepEqual((await store.events(id)).map((e) => e.type), ['queued', 'completed']);
  // Finished once: another attempt is refused and changes nothing.
  assert.equal(await store.transition(id, ['queued', 'running'], 'completed', bigJson(id, 2 * 1024 * 1024), { type: 'completed' }), 0);
  assert.ok((await store.getJson(id))!.equals(json));
});

test('a Redis without the script (flushed) has it loaded again', async () => {
  const keys = redisKeys(`p${randomUUID().slice(0, 8)}`);
  const store = new RunStore(client, keys, 60);
  const id = randomUUID();
  await client.script('FLUSH');
  const json = bigJson(id, 1024 * 1024);
  assert.ok(await store.transition(id, [], 'completed', json, { type: 'completed' }) > 0);
  assert.ok((await store.getJson(id))!.equals(json));
  // And the connection still answers in order afterwards.
  assert.equal(await client.hget(keys.run(id), 'status'), 'completed');
});
