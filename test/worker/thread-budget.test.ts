import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../services/core/config.ts';
import { threadBudget } from '../../worker/thread-budget.ts';

test('counts a thread per worker slot, interactive slot, session slot and pool build, plus background work', () => {
  const config = loadConfig({ CORRAL_WORKER_SLOTS: '2', CORRAL_INTERACTIVE_SLOTS: '4', CORRAL_SESSION_SLOTS: '3', CORRAL_POOL_MAX_WARM: '16' });
  assert.deepEqual(threadBudget(config, '64'), { needed: 2 + 4 + 3 + 4 + 4, threads: 64 });
  const noPool = loadConfig({ CORRAL_WORKER_SLOTS: '2', CORRAL_INTERACTIVE_SLOTS: '4', CORRAL_SESSION_SLOTS: '0', CORRAL_POOL_MAX_WARM: '0' });
  assert.equal(threadBudget(noPool, '64').needed, 2 + 4 + 4);
});

test("a missing or malformed UV_THREADPOOL_SIZE means libuv's default of 4: a shortfall", () => {
  const config = loadConfig({ CORRAL_WORKER_SLOTS: '2', CORRAL_INTERACTIVE_SLOTS: '0', CORRAL_SESSION_SLOTS: '0', CORRAL_POOL_MAX_WARM: '0' });
  for (const unset of [undefined, '', 'lots', '0']) assert.equal(threadBudget(config, unset).threads, 4, String(unset));
  const big = loadConfig({ CORRAL_WORKER_SLOTS: '60', CORRAL_INTERACTIVE_SLOTS: '8' });
  const b = threadBudget(big, '64');
  assert.ok(b.needed > b.threads, JSON.stringify(b));
});
