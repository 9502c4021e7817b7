// Held containers (SandboxHost.hold): several programs one after another in one container, each
// a new process with its own outcome and limits; /box and the writable tmpfs carry over, no
// process does; a hostile program cannot disturb the init; close() leaves nothing.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError, SandboxHost, type HeldContainer, type HeldProgramSpec, type SandboxOutcome, type Volume } from '../../worker/sandbox/index.ts';
import { cgroupParentDirs } from '../../worker/sandbox/cgroups.ts';
import { loadNative, type NativeOutcome } from '../../worker/sandbox/native.ts';
import { toOutcome } from '../../worker/sandbox/outcome.ts';
import { nativeSpecFor } from '../../worker/sandbox/spec.ts';
import { staticFixture } from '../helpers/fixtures.ts';
import {
  busyboxLayers, createVolume, expectNothingLeftBehind, processesInOurRuns, settledSnapshot, slowHostLimits, snapshot, testHost,
} from '../helpers/sandbox.ts';

let layers: string[];

const describeOutcome = (r: SandboxOutcome) => JSON.stringify({ ...r, stdout: r.stdout.toString().slice(0, 500), stderr: r.stderr.toString().slice(0, 500) });

/** A program of `held`: a shell script, with the slow test kernel's extra time where it runs. */
function sh(held: HeldContainer, script: string, extra: Partial<HeldProgramSpec> = {}): Promise<SandboxOutcome> {
  return held.run({ argv: ['/bin/sh', '-c', script], ...extra, limits: { ...slowHostLimits(), ...extra.limits } });
}

/** Names of the processes a program of the container can see (its own pid namespace), but its own shell's. */
const LIST_PROCESSES = 'for p in /proc/[0-9]*; do [ "${p#/proc/}" = "$$" ] || cat $p/comm 2>/dev/null; done';

/** The cgroup directories under this run's cgroup (v2: the init's and the programs' leaves). */
function runCgroupChildren(host: SandboxHost): string[] {
  const out: string[] = [];
  for (const parent of cgroupParentDirs(host.cgroups)) {
    for (const run of readdirSync(parent).filter((n) => n.startsWith(`corral-${host.tag}-`))) {
      for (const entry of readdirSync(join(parent, run), { withFileTypes: true })) if (entry.isDirectory()) out.push(join(parent, run, entry.name));
    }
  }
  return out;
}

describe('held containers', () => {
  let volume: Volume;
  before(async () => {
    layers = await busyboxLayers();
  });
  expectNothingLeftBehind('a held container left something behind');

  it('keeps /box and the writable tmpfs across programs, each with its own outcome and output', async () => {
    volume = await createVolume({ sizeBytes: 16 << 20 });
    const held = await testHost().hold({ layers, box: { dir: volume.dir } });
    try {
      const first = await sh(held, 'echo kept > /box/state; echo scratch > /tmp/t; echo shm > /dev/shm/s; echo one; echo e1 >&2; exit 3');
      assert.equal(first.status, 'runtime_error', describeOutcome(first));
      assert.equal(first.exitCode, 3);
      assert.equal(first.stdout.toString(), 'one\n');
      assert.equal(first.stderr.toString(), 'e1\n');
      const second = await sh(held, 'cat /box/state /tmp/t /dev/shm/s; echo two > /box/out-2; pwd');
      assert.equal(second.status, 'ok', describeOutcome(second));
      assert.equal(second.stdout.toString(), 'kept\nscratch\nshm\n/box\n');
      assert.equal(second.stderr.toString(), '');
      const third = await held.run({ argv: ['cat'], stdin: 'its own stdin\n', limits: slowHostLimits() });
      assert.equal(third.stdout.toString(), 'its own stdin\n');
      assert.equal(held.programs, 3);
      // Output files per program, collected from the volume between programs.
      assert.equal((await volume.readFile('out-2', 100))?.data.toString(), 'two\n');
    } finally {
      await held.close();
      await volume.destroy();
    }
  });

  it('gives each program its own limits and accounting: a memory hog killed in program 2, program 3 runs fine', async () => {
    const held = await testHost().hold({ layers });
    try {
      const burn = await sh(held, 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo burnt');
      assert.equal(burn.status, 'ok', describeOutcome(burn));
      const limit = 32 << 20;
      const hog = await held.run({ argv: ['awk', 'BEGIN { s = "xxxxxxxxxxxxxxxx"; while (1) s = s s }'], limits: { memoryBytes: limit, cpuMs: 20_000, wallMs: 40_000 } });
      assert.equal(hog.status, 'memory_limit', describeOutcome(hog));
      assert.ok(hog.memoryKb * 1024 > limit / 2, `the hog's peak ${hog.memoryKb} KiB`);
      const after = await sh(held, 'echo fine', { limits: { memoryBytes: 64 << 20 } });
      assert.equal(after.status, 'ok', describeOutcome(after));
      assert.equal(after.stdout.toString(), 'fine\n');
      // Its own peak and CPU time, not the hog's or the loop's.
      assert.ok(after.memoryKb * 1024 < limit / 2, `program 3's peak ${after.memoryKb} KiB after a ${hog.memoryKb} KiB hog`);
      assert.ok(after.cpuMs < burn.cpuMs, `program 3's CPU ${after.cpuMs} ms, the loop's ${burn.cpuMs} ms`);
      const slow = await sh(held, 'sleep 5', { limits: { wallMs: 300 } });
      assert.equal(slow.status, 'time_limit', describeOutcome(slow));
      assert.equal(slow.limit, 'wall');
      const loud = await sh(held, 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done', { limits: { outputBytes: 4096 } });
      assert.equal(loud.status, 'output_limit', describeOutcome(loud));
      assert.equal(loud.stdout.length, 4096);
      const last = await sh(held, 'echo last');
      assert.equal(last.status, 'ok', describeOutcome(last));
      assert.equal(last.stdout.toString(), 'last\n');
    } finally {
      await held.close();
    }
  });

  it('leaves no process of a program to the next one: daemons, stray children and new sessions are gone', async () => {
    const held = await testHost().hold({ layers });
    try {
      const first = await sh(held, '(sleep 1000 &); (setsid sleep 1001 &); (trap "" TERM HUP; exec sleep 1002) & echo started');
      assert.equal(first.status, 'ok', describeOutcome(first));
      const second = await sh(held, LIST_PROCESSES);
      assert.equal(second.status, 'ok', describeOutcome(second));
      assert.doesNotMatch(second.stdout.toString(), /sleep/, 'a process of program 1 is still there');
      // Seen from the host: no sleep of program 1 in the run's cgroups either.
      const comms = processesInOurRuns(testHost()).map((pid) => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } });
      assert.ok(!comms.includes('sleep'), `processes in the run's cgroups: ${comms.join(', ')}`);
    } finally {
      await held.close();
    }
  });

  it('removes the SysV IPC objects a program made before the next one (they have no size bound)', async () => {
    const key = (0x48000000 | (process.pid & 0xffffff)) >>> 0;
    const hex = key.toString(16);
    const box = await createVolume({ sizeBytes: 8 << 20 });
    await box.writeFile('leftovers', await staticFixture('leftovers'), { mode: 0o755 });
    const held = await testHost().hold({ layers, box: { dir: box.dir } });
    try {
      const first = await sh(held, `./leftovers sysv-leave ${hex} && ./leftovers sysv-look ${hex}`);
      assert.equal(first.status, 'ok', describeOutcome(first));
      // Within one program the look sees them: the next one would if they survived.
      assert.equal(first.stdout.toString(), 'sysv created\nshm=present msg=present sem=present\ncount shm=1 msg=1 sem=1\n');
      const next = await held.run({ argv: ['./leftovers', 'sysv-look', hex], limits: slowHostLimits() });
      assert.equal(next.status, 'ok', describeOutcome(next));
      assert.equal(next.stdout.toString(), 'shm=absent msg=absent sem=absent\ncount shm=0 msg=0 sem=0\n');
    } finally {
      await held.close();
      await box.destroy();
    }
  });

  it('survives a hostile program: signals to the init and to everything, a fork bomb, its descriptors', async () => {
    const held = await testHost().hold({ layers });
    try {
      const hostile = await sh(held, [
        'kill -9 1; kill -STOP 1; kill -TERM -1; kill -9 -1 2>/dev/null;',
        'for fd in 3 4 5 6 7 8 9; do echo x >&$fd; done 2>/dev/null;',
        'bomb() { bomb | bomb & }; bomb; sleep 1; echo survived',
      ].join(' '), { limits: { processes: 32 } });
      assert.notEqual(hostile.status, 'internal_error', describeOutcome(hostile));
      const next = await sh(held, 'echo still here');
      assert.equal(next.status, 'ok', describeOutcome(next));
      assert.equal(next.stdout.toString(), 'still here\n');
      const none = await sh(held, LIST_PROCESSES);
      assert.equal(none.stdout.toString(), '', 'a process of the bomb is still there');
    } finally {
      await held.close();
    }
  });

  it('stops one program on its abort signal, before or while it runs, and the next one runs', async () => {
    const held = await testHost().hold({ layers });
    try {
      const ac = new AbortController();
      const running = sh(held, 'sleep 30', { signal: ac.signal, limits: { wallMs: 60_000 } });
      setTimeout(() => ac.abort(), 200);
      const stopped = await running;
      assert.equal(stopped.status, 'cancelled', describeOutcome(stopped));
      const aborted = new AbortController();
      aborted.abort();
      assert.equal((await sh(held, 'echo never', { signal: aborted.signal })).status, 'cancelled');
      // Queued behind a running program and aborted before its turn: it never starts.
      const late = new AbortController();
      const busy = sh(held, 'sleep 0.3; echo busy');
      const queued = sh(held, 'echo queued > /tmp/queued', { signal: late.signal });
      late.abort();
      assert.equal((await busy).stdout.toString(), 'busy\n');
      assert.equal((await queued).status, 'cancelled');
      const next = await sh(held, 'cat /tmp/queued 2>/dev/null; echo next');
      assert.equal(next.status, 'ok', describeOutcome(next));
      assert.equal(next.stdout.toString(), 'next\n');
    } finally {
      await held.close();
    }
  });

  it('keeps its errors structured: a bad program spec, a closed container', async () => {
    const held = await testHost().hold({ layers });
    await assert.rejects(held.run({ argv: [] }), (err: unknown) => err instanceof SandboxError && err.code === 'spec');
    assert.equal((await sh(held, 'echo ok')).status, 'ok');
    await held.close();
    await held.close();
    await assert.rejects(held.run({ argv: ['true'] }), (err: unknown) => err instanceof SandboxError && err.code === 'used' && err.step === 'held');
    await assert.rejects(testHost().hold({ layers: ['relative/layer'] }), (err: unknown) => err instanceof SandboxError && err.code === 'spec');
  });

  it('reports a held container whose init is gone, and a one-shot dispatch into it, as structured failures', async () => {
    const native = loadNative();
    const spec = nativeSpecFor({ layers, argv: ['true'], limits: slowHostLimits() }, testHost());
    const container = await native.prepare(spec);
    const dispatch = async (program: number) => {
      const out: Partial<NativeOutcome> = {};
      await native.dispatchHeld(container, program, spec, out);
      return toOutcome(out as NativeOutcome);
    };
    try {
      assert.equal((await dispatch(1)).status, 'ok');
      assert.equal(native.signal(container, 15), -1, 'corral_signal refuses a held container');
      const oneShot: Partial<NativeOutcome> = {};
      await native.dispatch(container, spec, oneShot);
      assert.equal(toOutcome(oneShot as NativeOutcome).failure?.code, 'used');
      native.cancel(container); // the one-shot stop: it kills the container's init
      await new Promise((r) => setTimeout(r, 200));
      const second = await dispatch(2);
      assert.equal(second.status, 'internal_error');
      assert.equal(second.failure?.code, 'container', describeOutcome(second));
      const third = await dispatch(3);
      assert.equal(third.status, 'internal_error');
      assert.equal(third.failure?.code, 'container');
      assert.equal(third.failure?.step, 'held', describeOutcome(third));
      const backwards = await dispatch(1); // a number that does not increase
      assert.equal(backwards.failure?.code, 'spec');
    } finally {
      await native.discard(container);
    }
  });

  it('runs each program in a cgroup of its own on cgroup v2 (one leaf at a time beside the init\'s), the same one on v1', async () => {
    const host = testHost();
    const held = await host.hold({ layers });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await sh(held, 'true')).status, 'ok');
      const children = runCgroupChildren(host).map((d) => d.split('/').pop()!).sort();
      if (host.cgroups.version === 2) assert.deepEqual(children, ['init', 'program-4'], 'the leaves of a held container after 3 programs');
      else assert.deepEqual(children, []);
    } finally {
      await held.close();
    }
  });

  it('closes with its host: the program under way stopped, a queued one cancelled, nothing left', async () => {
    const host = SandboxHost.open();
    const start = await settledSnapshot(testHost());
    const busy = await host.hold({ layers });
    const idle = await host.hold({ layers });
    assert.equal((await idle.run({ argv: ['true'], limits: slowHostLimits() })).status, 'ok');
    const running = busy.run({ argv: ['sleep', '60'], limits: { wallMs: 120_000, cpuMs: 120_000 } });
    const queued = busy.run({ argv: ['true'] });
    await new Promise((r) => setTimeout(r, 300)); // the sleep has started
    await host.close();
    assert.equal((await running).status, 'cancelled');
    assert.equal((await queued).status, 'cancelled');
    assert.equal(busy.programs, 1);
    assert.equal(await settledSnapshot(host), start, 'a held container outlived its host');
  });

  it('takes a warm container from the pool, and a used one is never handed out again', async () => {
    const host = SandboxHost.open({ pool: { maxWarm: 2 } });
    const start = await settledSnapshot(testHost()); // the same names: every host of the process shares its tag
    try {
      // Demand first, so the pool builds for this image.
      const warmUp = await host.run({ layers, argv: ['true'] });
      assert.equal(warmUp.status, 'ok');
      for (let i = 0; i < 300 && !host.pool!.stats().some((e) => e.warm > 0); i++) await new Promise((r) => setTimeout(r, 10));
      const held = await host.hold({ layers });
      assert.equal(held.pooled, true);
      const first = await held.run({ argv: ['/bin/sh', '-c', 'echo mine > /tmp/mark'], limits: slowHostLimits() });
      assert.equal(first.timings.pooled, true);
      await held.close();
      const other = await host.run({ layers, argv: ['/bin/sh', '-c', 'cat /tmp/mark 2>/dev/null; echo fresh'], limits: slowHostLimits() });
      assert.equal(other.stdout.toString(), 'fresh\n');
    } finally {
      await host.close();
    }
    assert.equal(await settledSnapshot(host), start, 'the pooled held container left something behind');
  });
});

