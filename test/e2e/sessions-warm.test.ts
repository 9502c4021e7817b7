// The warm pool of started kernels (CORRAL_SESSION_WARM_KERNELS, worker/sessions/warm-kernels.ts)
// end to end: real HTTP, real Redis, the real sandbox and ipykernel. A session with the default
// limits takes the started kernel (its files put into /box after the take), the pool refills in
// the slots held sessions leave, a session with limits of its own starts cold and evicts a warm
// kernel when every slot is in use, and nothing of the pool is left once the worker has stopped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sessionKeys } from '../../services/core/session-protocol.ts';
import { expectNothingLeftBehind } from '../helpers/sandbox.ts';
import { bridges, plain, show } from '../helpers/sessions.ts';
import { api, startStack, waitFor, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';

const sb = await realSandbox();
const skip = needs(sb, 'python');
if (skip) console.log(`# warm kernel tests skipped: ${skip}`);
const real = sb as RealSandbox;

const infoOf = async (s: Stack, id: string) => (await api(s, 'GET', `/v1/sessions/${id}`)).body;

describe('warm kernels (CORRAL_SESSION_WARM_KERNELS)', { skip }, () => {
  let s: Stack;
  after(async () => { await s?.stop(); });
  expectNothingLeftBehind('a warm kernel or a session left something behind');
  before(async () => {
    s = await startStack({
      launcher: real.launcher, registry: real.registry, selfTest: real.selfTest,
      env: { CORRAL_SESSION_SLOTS: '2', CORRAL_SESSION_WARM_KERNELS: '1', CORRAL_SESSION_WORKER_SILENCE_MS: '4000', CORRAL_SESSION_START_TIMEOUT_MS: '120000' },
    });
  });

  const held: string[] = [];

  it('a session with the default limits takes the started kernel; its files are in /box; the pool refills in a free slot', async () => {
    await waitFor(async () => bridges() === 1, 'the warm kernel to start', 4000);
    const r = await api(s, 'POST', '/v1/sessions', { language: 'python', files: [{ path: 'in/data.txt', content: 'put after the take' }] });
    assert.equal(r.status, 201, show(r));
    held.push(r.body.id);
    assert.equal((await infoOf(s, r.body.id)).warm, true, show(r));
    // The worker wrote "taken" (its name, a first beat: how an API tells a dead worker) with the ready.
    const redis = new Redis({ path: s.redis.socketPath });
    try {
      const record = await redis.hgetall(sessionKeys(s.config.keyPrefix).record(r.body.id));
      assert.equal(record.status, 'ready');
      assert.ok(record.worker, JSON.stringify(record));
      assert.ok(Number(record.beatAt) > 0 && record.startedAt, JSON.stringify(record));
    } finally {
      redis.disconnect();
    }
    const c = await api(s, 'POST', `/v1/sessions/${r.body.id}/execute`, { code: 'open("in/data.txt").read()' });
    assert.equal(c.body.status, 'ok', show(c));
    assert.equal(plain(c.body), "'put after the take'");
    // One slot is left: the pool starts a kernel in it.
    await waitFor(async () => bridges() === 2, 'the pool to refill', 4000);
    const info = await api(s, 'GET', `/v1/sessions/${r.body.id}`);
    assert.equal(info.body.warm, true);
  });

  it('the refilled kernel serves the next session; a full house has no warm kernel (they count against the slots)', async () => {
    const r = await api(s, 'POST', '/v1/sessions', { language: 'python' });
    assert.equal(r.status, 201, show(r));
    held.push(r.body.id);
    assert.equal((await infoOf(s, r.body.id)).warm, true, show(r));
    const c = await api(s, 'POST', `/v1/sessions/${r.body.id}/execute`, { code: '1+1' });
    assert.equal(plain(c.body), '2', show(c));
    // Both slots are held by sessions: no third container.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(bridges(), 2);
    const full = await api(s, 'POST', '/v1/sessions', { language: 'python' });
    assert.equal(full.status, 503, show(full));
  });

  it('a session with limits of its own starts cold, evicting the warm kernel when every slot is in use', async () => {
    const closed = await api(s, 'DELETE', `/v1/sessions/${held.pop()}`);
    assert.equal(closed.status, 200, show(closed));
    // The freed slot gets a warm kernel again: one session + one warm kernel.
    await waitFor(async () => bridges() === 2, 'the pool to refill the freed slot', 4000);
    const r = await api(s, 'POST', '/v1/sessions', { language: 'python', limits: { memoryMb: 256 } });
    assert.equal(r.status, 201, show(r));
    held.push(r.body.id);
    const info = await infoOf(s, r.body.id);
    assert.equal(info.warm, false, show(info));
    assert.equal(info.limits.memoryMb, 256);
    const c = await api(s, 'POST', `/v1/sessions/${r.body.id}/execute`, { code: '2+2' });
    assert.equal(plain(c.body), '4', show(c));
    // Two sessions in two slots: the warm kernel made room.
    assert.equal(bridges(), 2);
    for (const id of held.splice(0)) assert.equal((await api(s, 'DELETE', `/v1/sessions/${id}`)).status, 200);
  });
});
