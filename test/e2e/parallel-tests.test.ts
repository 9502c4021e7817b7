// Tests side by side (parallelTests) on a worker's slots, through the whole stack (HTTP → Redis →
// BullMQ → worker host → real sandbox), with two jobs on a 2-slot worker. The real launcher is
// wrapped, not replaced: the wrapper watches which sandboxes are under way at once (and, with CPU
// placement, on which CPUs), so the slot accounting is observed, never timed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, startStack, until, type Stack } from './harness.ts';
import { needs, realSandbox, type RealSandbox } from './real-sandbox.ts';
import { testHost } from '../helpers/sandbox.ts';
import { cpuPlacement, placingLauncher } from '../../worker/cpu-placement.ts';
import type { Launcher } from '../../worker/launcher.ts';

const SLOTS = 2;
const sb = await realSandbox();
const skip = needs(sb, 'bash');
if (skip) console.log(`# e2e tests side by side skipped: ${skip}`);

/** What the wrapper saw: sandboxes under way now and at most, and their CPUs. */
interface Watch {
  now: Map<number, { tag: string; cpus: readonly number[] | undefined }>;
  max: number;
  /** Two sandboxes under way at once on a common CPU. */
  sharedCpu: number;
  /** Each sandbox's tag (its stdin's first word), in the order they started. */
  started: string[];
}

/** The real launcher, its runs watched (and placed on CPUs of their own when the host can). */
function watched(real: Launcher, cpus: readonly number[] | null): { launcher: Launcher; watch: Watch; placed: boolean } {
  const watch: Watch = { now: new Map(), max: 0, sharedCpu: 0, started: [] };
  let next = 0;
  const counting: Launcher = {
    ...real,
    async run(spec, signal) {
      const id = next++;
      const tag = typeof spec.stdin === 'string' ? spec.stdin.split(/\s/)[0]! : '';
      for (const other of watch.now.values()) if (spec.cpuset && other.cpus?.some((c) => spec.cpuset!.includes(c))) watch.sharedCpu++;
      watch.now.set(id, { tag, cpus: spec.cpuset });
      watch.max = Math.max(watch.max, watch.now.size);
      watch.started.push(tag);
      try {
        return await real.run(spec, signal);
      } finally {
        watch.now.delete(id);
      }
    },
  };
  // As the production worker does (start-worker.ts): placement over the sandbox, per run.
  const placement = cpuPlacement('auto', cpus, SLOTS);
  if ('leases' in placement) return { launcher: placingLauncher(counting, placement.leases), watch, placed: true };
  console.log(`# CPU placement not checked: ${placement.off}`);
  return { launcher: counting, watch, placed: false };
}

const sleeper = 'read tag n; sleep 0.3; echo ok';
const testsOf = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ stdin: `${tag} ${i}\n`, expectedOutput: 'ok' }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tests side by side on a 2-slot worker', { skip }, () => {
  let s: Stack;
  let w: ReturnType<typeof watched>;
  before(async () => {
    const real = sb as RealSandbox;
    w = watched(real.launcher, testHost().placementCpus);
    s = await startStack({ launcher: w.launcher, registry: real.registry, selfTest: real.selfTest, env: { CORRAL_WORKER_SLOTS: String(SLOTS) } });
  });
  after(async () => { await s?.stop(); });

  const submit = async (body: object): Promise<string> => {
    const r = await api(s, 'POST', '/v1/runs', body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.id;
  };
  /** Waits until `n` sandboxes are under way at once, or `id` has finished (then false). */
  const untilUnderWay = async (n: number, id: string): Promise<boolean> => {
    for (;;) {
      if (w.watch.now.size >= n) return true;
      const r = await api(s, 'GET', `/v1/runs/${id}`);
      if (['completed', 'cancelled', 'failed'].includes(r.body.status)) return false;
      await sleep(5);
    }
  };
  const reset = () => { w.watch.max = 0; w.watch.sharedCpu = 0; w.watch.started = []; };

  it('a job that borrowed a slot gives it back after its test: the next job runs, and never more sandboxes than slots', async () => {
    reset();
    const a = await submit({ language: 'bash', source: sleeper, tests: testsOf('a', 12), parallelTests: true });
    // Alone on the worker, A runs two tests at once: its own slot and the free one, borrowed.
    assert.ok(await untilUnderWay(2, a), 'job A borrowed the free slot');
    // B arrives while the slot is lent. Before: B started at once beside A's two tests (3
    // sandboxes on 2 slots); now it waits for the borrowed test to end, one test at most.
    const b = await submit({ language: 'bash', source: sleeper, tests: testsOf('b', 6), parallelTests: true });
    const [ra, rb] = [await until(s, a), await until(s, b)];
    for (const [r, n] of [[ra, 12], [rb, 6]] as const) {
      assert.equal(r.verdict, 'accepted', JSON.stringify(r.tests?.map((t: any) => [t.index, t.verdict, t.stderr])));
      assert.deepEqual(r.tests.map((t: any) => t.index), Array.from({ length: n }, (_, i) => i), 'results in test order');
    }
    assert.equal(w.watch.max, SLOTS, `sandboxes under way at once: at most ${w.watch.max}`);
    // B did not wait for A's end: its first test started while A still had tests to start.
    const firstOfB = w.watch.started.indexOf('b');
    const lastOfA = w.watch.started.lastIndexOf('a');
    assert.ok(firstOfB >= 0 && firstOfB < lastOfA, `B started before A's last test (order: ${w.watch.started.join('')})`);
    if (w.placed) assert.equal(w.watch.sharedCpu, 0, 'every sandbox under way on a CPU of its own');
  });

  it('two jobs with many tests side by side: never more sandboxes than slots, each on its own CPU', async () => {
    reset();
    const ids = [];
    for (const tag of ['c', 'd', 'e']) ids.push(await submit({ language: 'bash', source: sleeper, tests: testsOf(tag, 8), parallelTests: true }));
    for (const id of ids) assert.equal((await until(s, id)).verdict, 'accepted');
    assert.equal(w.watch.started.length, 24);
    assert.ok(w.watch.max <= SLOTS, `sandboxes under way at once: at most ${w.watch.max}`);
    if (w.placed) assert.equal(w.watch.sharedCpu, 0, 'every sandbox under way on a CPU of its own');
  });

  it('a cancel mid-job leaves no slot lent: the next job alone runs its tests side by side again', async () => {
    reset();
    const a = await submit({ language: 'bash', source: 'read tag n; sleep 30; echo ok', tests: testsOf('f', 6), parallelTests: true });
    assert.ok(await untilUnderWay(2, a), 'the job borrowed the free slot');
    const cancel = await api(s, 'DELETE', `/v1/runs/${a}`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.equal((await until(s, a)).status, 'cancelled');
    while (w.watch.now.size > 0) await sleep(5); // its sandboxes are being stopped
    reset();
    const g = await submit({ language: 'bash', source: sleeper, tests: testsOf('g', 6), parallelTests: true });
    assert.equal((await until(s, g)).verdict, 'accepted');
    assert.equal(w.watch.max, SLOTS, 'both slots free again: its tests ran two at a time');
  });
});
