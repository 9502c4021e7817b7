// The worker's CPU placement logic (worker/cpu-placement.ts): which CPUs each run leases, when
// placement is off, and that every way a launcher is used (run, stream, connect) leases and gives
// back, and a held container's programs. The real cpuset is tested in test/sandbox/cpu-placement.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CpuLeases, cpuPlacement, placingHold, placingLauncher } from '../../worker/cpu-placement.ts';
import type { Launcher } from '../../worker/launcher.ts';
import type { HeldContainer, HeldProgramSpec, HoldSpec, SandboxOutcome, SandboxSpec, StreamingRun } from '../../worker/sandbox/index.ts';

const outcome = { status: 'ok' } as SandboxOutcome;

/** A launcher whose runs end when `finish()` is called, recording the CPUs each was given. */
function heldLauncher() {
  const pending: Array<() => void> = [];
  const seen: Array<readonly number[] | undefined> = [];
  const wait = (spec: SandboxSpec) => { seen.push(spec.cpuset); return new Promise<SandboxOutcome>((r) => pending.push(() => r(outcome))); };
  const launcher: Launcher = {
    createVolume: () => { throw new Error('unused'); },
    run: (spec) => wait(spec),
    stream: (spec) => ({ outcome: wait(spec) }) as unknown as StreamingRun,
    connect: async (a, b) => { const [first, second] = await Promise.all([wait(a), wait(b)]); return { first, second, endedMs: { first: 0, second: 0 } }; },
  };
  return { launcher, seen, finishAll: async () => { pending.splice(0).forEach((f) => f()); await new Promise((r) => setImmediate(r)); } };
}

describe('CPU placement: leases', () => {
  it('gives runs that fit CPUs of their own, the least busy first, and shares past that', () => {
    const leases = new CpuLeases([2, 3]);
    const a = leases.take(1);
    const b = leases.take(1);
    assert.deepEqual([a.cpus, b.cpus], [[2], [3]]);
    const c = leases.take(1); // a third run on two CPUs shares the least busy (lowest first)
    assert.deepEqual(c.cpus, [2]);
    a.release();
    a.release(); // twice is once
    assert.deepEqual(leases.load(), { 2: 1, 3: 1 });
    b.release();
    assert.deepEqual(leases.take(1).cpus, [3]);
  });

  it('a run with cpus k gets ceil(k) CPUs, at most all of them', () => {
    const leases = new CpuLeases([0, 1, 2, 3]);
    assert.deepEqual(leases.take(2).cpus, [0, 1]);
    assert.deepEqual(leases.take(1.5).cpus, [2, 3]);
    assert.deepEqual(leases.take(0.25).cpus.length, 1);
    assert.deepEqual(new CpuLeases([0, 1]).take(8).cpus, [0, 1]);
  });

  it('is off when configured off, without a cpuset controller, or with more slots than CPUs', () => {
    assert.match((cpuPlacement('off', [0, 1], 2) as { off: string }).off, /CORRAL_CPU_PLACEMENT=off/);
    assert.match((cpuPlacement('auto', null, 2) as { off: string }).off, /no cpuset/);
    assert.match((cpuPlacement('auto', [0, 1], 3) as { off: string }).off, /3 run slots on 2 CPUs/);
    assert.deepEqual((cpuPlacement('auto', [0, 1], 2) as { leases: CpuLeases }).leases.cpus, [0, 1]);
  });
});

describe('CPU placement: the placing launcher', () => {
  it('two runs at once (two slots, or a job and a borrowed slot) get different CPUs, given back at their end', async () => {
    const held = heldLauncher();
    const leases = new CpuLeases([0, 1]);
    const placed = placingLauncher(held.launcher, leases);
    const runs = [placed.run({ layers: ['/x'], argv: ['a'], limits: { cpus: 1 } }), placed.run({ layers: ['/x'], argv: ['b'] })];
    assert.deepEqual(held.seen, [[0], [1]]);
    await held.finishAll();
    await Promise.all(runs);
    assert.deepEqual(leases.load(), { 0: 0, 1: 0 });
  });

  it('an interactor\'s two containers lease one CPU each; a streamed run gives its CPU back with its outcome', async () => {
    const held = heldLauncher();
    const leases = new CpuLeases([0, 1, 2]);
    const placed = placingLauncher(held.launcher, leases);
    const pair = placed.connect({ layers: ['/x'], argv: ['solution'] }, { layers: ['/x'], argv: ['interactor'] });
    const stream = placed.stream({ layers: ['/x'], argv: ['kernel'] }, {} as never);
    assert.deepEqual(held.seen, [[0], [1], [2]]);
    await held.finishAll();
    await pair;
    await stream.outcome;
    assert.deepEqual(leases.load(), { 0: 0, 1: 0, 2: 0 });
  });

  it('keeps a spec\'s own CPUs and leases none for it', async () => {
    const held = heldLauncher();
    const leases = new CpuLeases([0, 1]);
    const run = placingLauncher(held.launcher, leases).run({ layers: ['/x'], argv: ['a'], cpuset: [1] });
    assert.deepEqual(held.seen, [[1]]);
    assert.deepEqual(leases.load(), { 0: 0, 1: 0 });
    await held.finishAll();
    await run;
  });
});

describe('CPU placement: held containers', () => {
  /** A hold whose programs end when `finish()` is called, recording the CPUs each was given. */
  function fakeHold() {
    const seen: Array<readonly number[] | undefined> = [];
    const pending: Array<() => void> = [];
    let closed = 0;
    const hold = async (spec: HoldSpec): Promise<HeldContainer> => ({
      programs: 0,
      pooled: false,
      close: async () => { closed++; },
      run: (program: HeldProgramSpec) => {
        seen.push(program.cpuset ?? spec.cpuset);
        return new Promise<SandboxOutcome>((r) => pending.push(() => r(outcome)));
      },
    });
    return { hold, seen, closed: () => closed, finishAll: async () => { pending.splice(0).forEach((f) => f()); await new Promise((r) => setImmediate(r)); } };
  }

  it('leases per program, not for the container: an idle held container keeps no CPU', async () => {
    const fake = fakeHold();
    const leases = new CpuLeases([0, 1]);
    const held = await placingHold(fake.hold, leases)({ layers: ['/x'] });
    assert.deepEqual(leases.load(), { 0: 0, 1: 0 }, 'held, no program yet');
    const other = leases.take(1); // another slot's run on CPU 0
    const first = held.run({ argv: ['a'], limits: { cpus: 1 } });
    assert.deepEqual(fake.seen, [[1]]);
    assert.deepEqual(leases.load(), { 0: 1, 1: 1 });
    await fake.finishAll();
    await first;
    assert.deepEqual(leases.load(), { 0: 1, 1: 0 }, 'given back when the program ended');
    other.release();
    const second = held.run({ argv: ['b'], limits: { cpus: 2 } });
    assert.deepEqual(fake.seen.at(-1), [0, 1]);
    await fake.finishAll();
    await second;
    await held.close();
    assert.equal(fake.closed(), 1);
    assert.deepEqual(leases.load(), { 0: 0, 1: 0 });
  });

  it('a hold or a program that names its CPUs keeps them and leases nothing', async () => {
    const fake = fakeHold();
    const leases = new CpuLeases([0, 1]);
    const pinned = await placingHold(fake.hold, leases)({ layers: ['/x'], cpuset: [1] });
    const a = pinned.run({ argv: ['a'] });
    const free = await placingHold(fake.hold, leases)({ layers: ['/x'] });
    const b = free.run({ argv: ['b'], cpuset: [0] });
    assert.deepEqual(fake.seen, [[1], [0]]);
    assert.deepEqual(leases.load(), { 0: 0, 1: 0 });
    await fake.finishAll();
    await Promise.all([a, b]);
  });
});
