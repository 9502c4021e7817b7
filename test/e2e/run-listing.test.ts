// RunService.list and RunService.delete over a real redis-server, seen from two API processes
// (two core contexts on one Redis and key prefix): runs accepted by one are listed, read and
// deleted through the other, by API v1 calls and through Judge0's GET/DELETE /submissions.
// The sandbox is the fake launcher (what is under test is the store and the HTTP layers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CorralError } from '../../services/core/errors.ts';
import { redisKeys } from '../../services/core/redis.ts';
import { api, startStack, until, waitFor, type Stack } from './harness.ts';
import { fakeLauncher, fakeRegistry } from '../worker/fakes.ts';

let a: Stack; // accepts runs; has the worker
let b: Stack; // another API process on the same Redis, no worker
before(async () => {
  a = await startStack({ launcher: fakeLauncher(), registry: fakeRegistry() });
  b = await startStack({
    redis: a.redis,
    env: { CORRAL_KEY_PREFIX: a.config.keyPrefix, CORRAL_BATCH_MAX: '5', CORRAL_JUDGE0_ENABLE_SUBMISSION_DELETE: 'true' },
  });
});
after(async () => {
  await b?.stop();
  await a?.stop();
});

const submit = async (program: object): Promise<string> => {
  const r = await api(a, 'POST', '/v1/runs', { language: 'fake', source: JSON.stringify(program) });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id as string;
};

let first: string[] = [];

test('list: newest first, paged, across API processes', async () => {
  first = [];
  for (const out of ['one', 'two', 'three']) first.push(await submit({ stdout: out }));
  for (const id of first) await until(a, id);
  const p1 = await b.core.runService.list({ page: 1, perPage: 2 });
  assert.deepEqual(p1.runs.map((r) => r.id), [first[2], first[1]]);
  assert.equal(p1.total, 3);
  assert.equal(p1.perPage, 2);
  assert.equal(p1.runs[0]!.run?.stdout, 'three');
  const p2 = await b.core.runService.list({ page: 2, perPage: 2 });
  assert.deepEqual(p2.runs.map((r) => r.id), [first[0]]);
  assert.deepEqual((await b.core.runService.list({ page: 3, perPage: 2 })).runs, []);
});

test('list: bad pages are refused, a page larger than CORRAL_BATCH_MAX is lowered to it', async () => {
  for (const bad of [{ page: 0, perPage: 1 }, { page: 1, perPage: 0 }, { page: 1.5, perPage: 1 }, { page: 1e300, perPage: 1 }]) {
    await assert.rejects(b.core.runService.list(bad), (e: unknown) => e instanceof CorralError && e.code === 'validation_failed', JSON.stringify(bad));
  }
  const big = await b.core.runService.list({ page: 1, perPage: 1000 });
  assert.equal(big.perPage, 5);
  assert.ok(big.runs.length <= 5);
});

test('Judge0 GET /submissions on the other process lists the runs, with Judge0\'s meta', async () => {
  const r = await api(b, 'GET', '/submissions?per_page=2&page=1&fields=token,stdout,status_id');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.submissions, [
    { token: first[2], stdout: 'three', status_id: 3 },
    { token: first[1], stdout: 'two', status_id: 3 },
  ]);
  assert.deepEqual(r.body.meta, { current_page: 1, next_page: 2, prev_page: null, total_pages: 2, total_count: 3 });
  const bad = await api(b, 'GET', '/submissions?page=1e400');
  assert.equal(bad.status, 400);
});

test('delete: removes a finished run\'s result, events and index entry, from any process', async () => {
  const k = redisKeys(a.config.keyPrefix);
  const id = first[1]!;
  assert.equal(await a.core.redis.exists(k.events(id)), 1);
  const d = await api(b, 'DELETE', `/submissions/${id}?fields=token,stdout`);
  assert.equal(d.status, 200, JSON.stringify(d.body));
  assert.deepEqual(d.body, { token: id, stdout: Buffer.from('two').toString('base64') + '\n' });
  assert.equal((await api(a, 'GET', `/v1/runs/${id}`)).status, 404);
  assert.deepEqual((await api(b, 'GET', `/submissions/${id}`)).body, { status: 404, error: 'Not Found' });
  assert.equal(await a.core.redis.exists(k.run(id), k.events(id)), 0);
  const list = await a.core.runService.list({ page: 1, perPage: 10 });
  assert.deepEqual(list.runs.map((r) => r.id), [first[2], first[0]]);
  assert.equal(list.total, 2);
  // Deleted or unknown: null, and Judge0's 404.
  assert.equal(await a.core.runService.delete(id), null);
  assert.equal((await api(b, 'DELETE', `/submissions/${id}`)).status, 404);
  // The direct call answers the result as it was.
  const gone = await a.core.runService.delete(first[0]!);
  assert.equal(gone?.id, first[0]);
  assert.equal(gone?.run?.stdout, 'one');
});

test('delete: refused while queued or running (run_active; Judge0\'s 400), nothing removed', async () => {
  const id = await submit({ sleepMs: 600_000 });
  await waitFor(async () => (await a.core.runService.get(id))?.status === 'running', 'the run to start');
  await assert.rejects(b.core.runService.delete(id), (e: unknown) => e instanceof CorralError && e.code === 'run_active' && e.status === 409);
  const j = await api(b, 'DELETE', `/submissions/${id}`);
  assert.deepEqual([j.status, j.body], [400, { error: 'submission cannot be deleted because its status is 2 (Processing)' }]);
  assert.equal((await a.core.runService.get(id))?.status, 'running');
  assert.equal((await b.core.runService.list({ page: 1, perPage: 1 })).runs[0]!.id, id);
  // Cancel it, then it can go.
  assert.equal((await a.core.runService.cancel(id))?.status, 'cancelled');
  assert.equal((await b.core.runService.delete(id))?.status, 'cancelled');
});

test('expired runs drop out of the list and the index', async () => {
  const k = redisKeys(a.config.keyPrefix);
  const ids = [await submit({ stdout: 'x' }), await submit({ stdout: 'y' })];
  for (const id of ids) await until(a, id);
  const before = (await a.core.runService.list({ page: 1, perPage: 5 })).total;
  // What the result TTL does to a finished run: its keys vanish.
  await a.core.redis.del(k.run(ids[0]!), k.events(ids[0]!));
  const after1 = await a.core.runService.list({ page: 1, perPage: 5 });
  assert.ok(!after1.runs.some((r) => r.id === ids[0]));
  assert.equal(after1.runs[0]!.id, ids[1]);
  assert.equal(after1.total, before - 1);
  assert.equal(await a.core.redis.zscore(k.runIndex, ids[0]!), null);
  // The trim only drops entries whose run is gone, even when they are old enough.
  await a.core.redis.del(k.run(ids[1]!), k.events(ids[1]!));
  const later = Date.now() + a.config.resultTtlSeconds * 1000 + 1000;
  assert.equal(await a.core.store.trimIndex(later), 1);
  assert.equal(await a.core.redis.zscore(k.runIndex, ids[1]!), null);
  assert.equal(await a.core.redis.zcard(k.runIndex), (await a.core.runService.list({ page: 1, perPage: 5 })).total);
  assert.ok(await a.core.redis.zcard(k.runIndex) >= 1);
});
