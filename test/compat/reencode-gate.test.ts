// The faces' re-encodes of stored results: at most so many at once, the rest in turn, and a
// failing one passes its turn on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReencodeGate } from '../../services/api/compat/common/reencode-gate.ts';

test('at most atOnce run at the same time; the others wait in order; a failure passes the turn on', async () => {
  const gate = new ReencodeGate(2, 100);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const releases: Array<() => void> = [];
  const job = (i: number, fail = false) => gate.run(100, async () => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await new Promise<void>((r) => releases.push(r));
    running--;
    if (fail) throw new Error(`job ${i}`);
    return i;
  });
  const all = [job(0), job(1, true), job(2), job(3)].map((p) => p.then((v) => v, (e: Error) => e.message));
  for (let done = 0; done < 4; done++) {
    while (releases.length === 0) await new Promise((r) => setImmediate(r));
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r)); // let any extra start
    assert.ok(running <= 2, `${running} at once`);
    releases.shift()!();
  }
  assert.deepEqual(await Promise.all(all), [0, 'job 1', 2, 3]);
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.equal(most, 2);
});

test('a result smaller than the gate\'s minimum never waits', async () => {
  const gate = new ReencodeGate(1, 100);
  let release = () => {};
  const big = gate.run(100, () => new Promise<void>((r) => { release = r; }));
  assert.equal(await gate.run(99, () => 'small'), 'small');
  release();
  await big;
});
