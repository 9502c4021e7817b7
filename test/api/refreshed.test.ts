// Refreshed<T>: only the first reading is awaited; later ones refresh in the background.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Refreshed } from '../../services/core/refreshed.ts';

const tick = () => new Promise((r) => setTimeout(r, 5));

test('serves the last value while one background reading replaces it; a failed first reading is retried', async () => {
  let reads = 0;
  let fail = true;
  const gates: Array<(v: number) => void> = [];
  const r = new Refreshed(() => {
    reads++;
    if (fail) return Promise.reject(new Error('redis down'));
    return new Promise<number>((resolve) => gates.push(resolve));
  }, 0);
  await assert.rejects(r.get(), /redis down/);
  fail = false;
  const first = r.get(); // a failed first reading is forgotten: this reads again, and waits
  assert.equal(reads, 2);
  gates.shift()!(1);
  assert.equal(await first, 1);
  await tick();
  assert.equal(await r.get(), 1, 'stale value served at once');
  assert.equal(await r.get(), 1);
  assert.equal(reads, 3, 'one refresh at a time');
  gates.shift()!(2);
  await tick();
  assert.equal(await r.get(), 2, 'the refresh replaced it');
  r.invalidate();
  const again = r.get();
  assert.equal(reads, 5);
  gates.splice(0).forEach((g) => g(3));
  assert.equal(await again, 3);
});

test('keepFreshMs: read again on a timer while in use, so a get() after maxAge is served fresh; stops when unused', async () => {
  let reads = 0;
  const r = new Refreshed(async () => ++reads, 40, 200);
  assert.equal(await r.get(), 1);
  await new Promise((res) => setTimeout(res, 100)); // past maxAge: the timer has read again meanwhile
  assert.ok(reads >= 2, `no timed reading (${reads})`);
  const served = await r.get();
  assert.ok(served >= 2, 'a get() after maxAge found the timed reading');
  await new Promise((res) => setTimeout(res, 500)); // no get() for longer than keepFreshMs
  const idle = reads;
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(reads, idle, 'still reading though nobody asks');
  r.stop();
});

test('maxAgeMs may be a function (read each time)', async () => {
  let reads = 0;
  let age = 10_000;
  const r = new Refreshed(async () => ++reads, () => age);
  await r.get();
  await tick();
  await r.get();
  assert.equal(reads, 1, 'within a long max age: no reading');
  age = 0;
  await tick();
  await r.get();
  await tick();
  assert.equal(reads, 2, 'a short max age: read again');
});
