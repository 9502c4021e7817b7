// The open-loop scheduler with a fake clock: arrivals follow the schedule whether or not earlier
// requests have finished. No timing assertions: the clock only moves when the scheduler sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOpenLoop, type Clock } from '../../loadtest/open-loop.ts';

function fakeClock(): Clock & { sleeps: number[] } {
  let t = 1_000;
  const sleeps: number[] = [];
  return { sleeps, now: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; } };
}

test('every arrival is fired at its scheduled time while none of the requests has completed', async () => {
  const clock = fakeClock();
  const release: Array<() => void> = [];
  const loop = startOpenLoop({
    ratePerSecond: 50, count: 20, clock,
    fire: () => new Promise<string>((resolve) => release.push(() => resolve('ok'))),
  });
  assert.equal(await loop.dispatched, 20);
  assert.equal(release.length, 20, 'all 20 were sent');
  assert.equal(loop.inFlight(), 20, 'and none has completed');
  // 20 ms apart, from the first one's time
  assert.deepEqual(clock.sleeps, Array.from({ length: 19 }, () => 20));
  for (const r of release) r();
  const fired = await loop.done;
  assert.deepEqual(fired.map((f) => f.scheduledAt - 1_000), Array.from({ length: 20 }, (_, i) => i * 20));
  assert.deepEqual(fired.map((f) => f.firedAt), fired.map((f) => f.scheduledAt));
  assert.ok(fired.every((f) => f.value === 'ok' && f.settledAt !== undefined));
  assert.equal(loop.inFlight(), 0);
});

test('a late scheduler fires the overdue arrivals at once instead of spacing them out', async () => {
  let t = 0;
  let fires = 0;
  const clock: Clock = { now: () => t, sleep: async (ms) => { t += ms + 95; } }; // every sleep overshoots by 95 ms
  const loop = startOpenLoop({ ratePerSecond: 100, count: 30, clock, fire: async () => { fires++; } });
  const fired = await loop.done;
  assert.equal(fires, 30);
  // the schedule does not drift: arrival i is still due at i × 10 ms
  assert.deepEqual(fired.map((f) => f.scheduledAt), Array.from({ length: 30 }, (_, i) => i * 10));
  assert.ok(fired.every((f) => f.firedAt >= f.scheduledAt));
  assert.ok(fired.some((f) => f.firedAt - f.scheduledAt > 0), 'lag is recorded, not hidden');
});

test('failures and throws are recorded per request; the loop goes on', async () => {
  const loop = startOpenLoop({
    ratePerSecond: 10, count: 4, clock: fakeClock(),
    fire: (i) => { if (i === 1) throw new Error('sync'); if (i === 2) return Promise.reject(new Error('async')); return Promise.resolve(i); },
  });
  const fired = await loop.done;
  assert.equal(fired.length, 4);
  assert.deepEqual(fired.map((f) => (f.error as Error | undefined)?.message ?? f.value), [0, 'sync', 'async', 3]);
});

test('beyond maxInFlight arrivals are dropped and counted, not queued', async () => {
  const loop = startOpenLoop({ ratePerSecond: 10, count: 10, clock: fakeClock(), maxInFlight: 3, fire: () => new Promise<void>(() => {}) });
  assert.equal(await loop.dispatched, 3);
  assert.equal(loop.dropped(), 7);
});

test('bad rates and counts are refused', () => {
  assert.throws(() => startOpenLoop({ ratePerSecond: 0, count: 1, fire: async () => {} }), /rate/);
  assert.throws(() => startOpenLoop({ ratePerSecond: 1, count: 1.5, fire: async () => {} }), /count/);
});
