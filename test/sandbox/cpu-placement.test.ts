// CPU placement through the real sandbox (docs/sandbox.md#cpu-placement): a run given CPUs
// (spec.cpuset) sees exactly those, by every way a program counts CPUs — its affinity mask (nproc,
// Python's sched_getaffinity, Java's availableProcessors), the truthful /proc (cpuinfo, stat; so
// Python's os.cpu_count and Node's os.cpus) — cold and from the warm pool, and every program of a
// held container; the host side agrees (the run's cgroup's effective cpuset); with placement off a
// run sees the host's; nothing of it (cpuset cgroups) is left behind. Runs on cgroup v1 here and on
// v2 under the qemu kernel (test/sandbox/cgroup-v2-cpuset.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxHost, type HeldContainer, type SandboxOutcome, type SandboxSpec } from '../../worker/sandbox/index.ts';
import { CpuLeases, placingHold } from '../../worker/cpu-placement.ts';
import { parseCpuList } from '../../worker/sandbox/cgroups.ts';
import { PROCVIEW_BIN } from '../../worker/sandbox/proc-view.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import {
  busyboxLayers, expectNothingLeftBehind, processesInOurRuns, runInSandbox, runStreaming, slowHostLimits, snapshot, testHost,
} from '../helpers/sandbox.ts';

const MiB = 1024 * 1024;
const hostCpus = parseCpuList(/^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!);
const skip = process.getuid?.() !== 0 ? 'needs root' : testHost().placementCpus === null ? 'no cpuset controller on this host (CPU placement unavailable)' : false;
if (skip) console.log(`# CPU placement suite skipped: ${skip}`);
const viewSkip = !existsSync('/dev/fuse') ? 'no /dev/fuse' : !existsSync(PROCVIEW_BIN) ? `${PROCVIEW_BIN} is not built` : false;

/** An image of this checkout's store, or undefined (with the reason printed) when it is not built. */
async function imageLayers(name: string): Promise<string[] | undefined> {
  try {
    return (await new ImageStore().resolve(name)).layerDirs;
  } catch (err) {
    console.log(`# ${name} image not built for this checkout (${(err as Error).message.split('\n')[0]}): its case is skipped`);
    return undefined;
  }
}

function ok(o: SandboxOutcome): string {
  assert.equal(o.status, 'ok', `${o.error ?? ''} ${o.stderr.toString()}`);
  return o.stdout.toString();
}

const COUNT_SCRIPT = 'nproc; grep Cpus_allowed_list /proc/self/status | cut -f2; grep -c "^processor" /proc/cpuinfo; grep -c "^cpu[0-9]" /proc/stat';

/** nproc, the affinity list, cpuinfo's and stat's CPU counts. */
function counts(stdout: string): { nproc: number; allowed: number[]; cpuinfo: number; stat: number } {
  const [nproc, allowed, cpuinfo, stat] = stdout.trim().split('\n');
  return { nproc: Number(nproc), allowed: parseCpuList(allowed!), cpuinfo: Number(cpuinfo), stat: Number(stat) };
}

/** The host's side of a placement: the effective CPUs of a cgroup directory of a run (v1 its
 * cpuset directory, v2 a program leaf). */
function effectiveCpus(dir: string): number[] {
  return parseCpuList(readFileSync(join(dir, testHost().cgroups.version === 1 ? 'cpuset.effective_cpus' : 'cpuset.cpus.effective'), 'utf8'));
}

/** The directory holding the cpuset of the test host's process `pid`, from its /proc/<pid>/cgroup. */
function cpusetDirOf(pid: number): string {
  const cg = testHost().cgroups;
  const text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const line = cg.version === 1 ? /^\d+:(?:[^:]*,)?cpuset(?:,[^:]*)?:(.*)$/m.exec(text) : /^0::(.*)$/m.exec(text);
  assert.ok(line, `no cpuset line in /proc/${pid}/cgroup:\n${text}`);
  const parts = line[1]!.split('/');
  const run = parts.findIndex((p) => p.startsWith(`corral-${testHost().tag}-`));
  assert.ok(run >= 0, `process ${pid} is not in a run's cgroup: ${line[1]}`);
  return join(cg.version === 1 ? cg.cpuset! : cg.unified, ...parts.slice(run));
}

/** Runs `spec` (a shell script that prints "ready", then waits in the shell's own `read`) and,
 * while it waits, the effective CPUs of its cgroup as the host sees them (found through the
 * shell's /proc/<pid>/cgroup); then ends it. The wait is the shell's builtin, not a `cat` it would
 * start: a child could still be forking when "ready" arrives. */
async function cgroupCpusWhileRunning(spec: SandboxSpec): Promise<{ cgroupCpus: number[]; stdout: string }> {
  let stdout = '';
  let ready!: () => void;
  const isReady = new Promise<void>((r) => { ready = r; });
  const run = runStreaming(spec, {
    stdinPipe: true, maxOutputBytes: 1 << 16, onStderr: () => {},
    onStdout: (chunk) => { stdout += chunk.toString(); if (stdout.includes('ready\n')) ready(); },
  });
  // (an early end rejects nothing: the outcome is checked below either way)
  await Promise.race([isReady, run.outcome]);
  let cgroupCpus: number[] = [];
  try {
    const waiting = processesInOurRuns(testHost()).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sh';
      } catch {
        return false;
      }
    });
    assert.equal(waiting.length, 1, `one run's shell waiting on stdin (${stdout})`);
    cgroupCpus = effectiveCpus(cpusetDirOf(waiting[0]!));
  } finally {
    run.end();
  }
  ok(await run.outcome);
  return { cgroupCpus, stdout };
}

describe('CPU placement (cpuset)', { skip }, () => {
  let layers: string[];
  let cpus: readonly number[];
  const withView = !viewSkip;
  before(async () => {
    layers = await busyboxLayers();
    cpus = testHost().placementCpus!;
    if (withView) await testHost().startProcView();
    else console.log(`# truthful /proc not started (${viewSkip}): /proc/cpuinfo and /proc/stat counts not checked`);
  });
  expectNothingLeftBehind();
  after(async () => {
    const cg = testHost().cgroups;
    const cpusetDir = cg.version === 1 ? cg.cpuset : undefined;
    if (cpusetDir) assert.deepEqual(readdirSync(cpusetDir).filter((n) => n.includes(`corral-${testHost().tag}-`)), [], 'a cpuset cgroup was left behind');
    await testHost().close();
  });

  it('the host places runs on the worker\'s CPUs', () => {
    assert.deepEqual([...cpus], hostCpus.filter((c) => cpus.includes(c)));
    assert.ok(cpus.length >= 1);
    const cg = testHost().cgroups;
    if (cg.version === 1) {
      const dir = cg.cpuset!;
      assert.equal(readFileSync(join(dir, 'cgroup.clone_children'), 'utf8').trim(), '1');
      assert.notEqual(readFileSync(join(dir, 'cpuset.mems'), 'utf8').trim(), '');
    }
  });

  it('cpus 1 on one CPU: nproc, the affinity mask, /proc/cpuinfo and /proc/stat all say 1 — on each CPU', async () => {
    for (const cpu of cpus) {
      const c = counts(ok(await runInSandbox({ layers, argv: ['/bin/sh', '-c', COUNT_SCRIPT], limits: { cpus: 1 }, cpuset: [cpu] })));
      assert.equal(c.nproc, 1);
      assert.deepEqual(c.allowed, [cpu]);
      if (withView) assert.deepEqual([c.cpuinfo, c.stat], [1, 1]);
    }
  });

  it('cpus 2 on two CPUs sees 2', { skip: hostCpus.length < 2 ? 'the host has one CPU' : false }, async () => {
    const two = cpus.slice(0, 2);
    const c = counts(ok(await runInSandbox({ layers, argv: ['/bin/sh', '-c', COUNT_SCRIPT], limits: { cpus: 2 }, cpuset: two })));
    assert.equal(c.nproc, 2);
    assert.deepEqual(c.allowed, [...two]);
    if (withView) assert.deepEqual([c.cpuinfo, c.stat], [2, 2]);
  });

  it('Python: os.cpu_count() and len(os.sched_getaffinity(0)) are 1', async (t) => {
    const python = await imageLayers('python');
    if (!python) return t.skip('python image not built');
    const out = ok(await runInSandbox({ layers: python, argv: ['python3', '-c', 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))'], limits: { cpus: 1, ...slowHostLimits() }, cpuset: [cpus.at(-1)!] }));
    // os.cpu_count() is glibc's count of /proc/stat's cpuN lines (no /sys in the container): the view's.
    assert.equal(out.trim(), withView ? '1 1' : `${hostCpus.length} 1`);
  });

  it('Node: os.cpus().length and os.availableParallelism() are 1', {
    // Under the qemu kernel Node's start-up alone took 17 s of a loaded host's emulated CPU.
    skip: process.env.CG2_VM === 'qemu' ? 'Node under software emulation (qemu TCG) is too slow for a run\'s time' : false,
  }, async (t) => {
    const js = await imageLayers('js-runtimes');
    if (!js) return t.skip('js-runtimes image (Debian\'s Node) not built');
    const script = 'const os = require("os"); console.log(os.cpus().length, os.availableParallelism ? os.availableParallelism() : "-")';
    const out = ok(await runInSandbox({ layers: js, argv: ['node', '-e', script], limits: { cpus: 1, memoryBytes: 512 * MiB, ...slowHostLimits() }, cpuset: [cpus[0]!] }));
    const [cpusLength, parallelism] = out.trim().split(' ');
    // libuv counts /proc/stat's cpuN lines (the view's); availableParallelism is the affinity mask (Node >= 18.14).
    if (withView) assert.equal(cpusLength, '1');
    assert.ok(parallelism === '-' || parallelism === '1', out);
  });

  it('Java: Runtime.availableProcessors() is 1', {
    // Under the qemu kernel (software emulation) the JVM takes longer than a run's 40 s to start.
    skip: process.env.CG2_VM === 'qemu' ? 'the JVM under software emulation (qemu TCG) is too slow' : false,
  }, async (t) => {
    const java = await imageLayers('managed');
    if (!java) return t.skip('managed image (OpenJDK) not built');
    const source = 'public class P { public static void main(String[] a) { System.out.println(Runtime.getRuntime().availableProcessors()); } }';
    const spec: SandboxSpec = {
      layers: java, argv: ['/bin/sh', '-c', `printf '%s' '${source}' > /tmp/P.java && java -Xshare:auto -XX:TieredStopAtLevel=1 /tmp/P.java`],
      limits: { cpus: 1, memoryBytes: 768 * MiB, processes: 256, cpuMs: 20_000, wallMs: 40_000 }, cpuset: [cpus.at(-1)!],
    };
    assert.equal(ok(await runInSandbox(spec)).trim(), '1');
  });

  it('the host sees the run\'s CPUs in its cgroup (v1 cpuset.effective_cpus, v2 <run>/prog cpuset.cpus.effective)', async () => {
    for (const cpu of cpus) {
      const r = await cgroupCpusWhileRunning({ layers, argv: ['/bin/sh', '-c', 'grep Cpus_allowed_list /proc/self/status | cut -f2; echo ready; read x || :'], limits: { cpus: 1 }, cpuset: [cpu] });
      assert.deepEqual(r.cgroupCpus, [cpu]);
      assert.deepEqual(parseCpuList(r.stdout.split('\n')[0]!), [cpu]);
    }
    // Unplaced: the parent's, all of the host's placement CPUs.
    const all = await cgroupCpusWhileRunning({ layers, argv: ['/bin/sh', '-c', 'echo ready; read x || :'] });
    assert.deepEqual(all.cgroupCpus, [...cpus]);
  });

  describe('held containers', () => {
    const PRINT = 'nproc; grep Cpus_allowed_list /proc/self/status | cut -f2';
    const placed = async (held: HeldContainer, cpuset?: number[]) => {
      const out = ok(await held.run({ argv: ['/bin/sh', '-c', PRINT], limits: { cpus: 1, ...slowHostLimits() }, ...(cpuset ? { cpuset } : {}) }));
      const [nproc, allowed] = out.trim().split('\n');
      return { nproc: Number(nproc), allowed: parseCpuList(allowed!) };
    };
    /** The run's cgroup directory that places the held container's next program (v1 the run's
     * cpuset directory, kept; v2 the fresh program-<n> leaf made once the last program ended). */
    const nextProgramDir = (): string => {
      const cg = testHost().cgroups;
      const runs = readdirSync(cg.version === 1 ? cg.cpuset! : cg.unified).filter((n) => n.startsWith(`corral-${testHost().tag}-`))
        .map((n) => join(cg.version === 1 ? cg.cpuset! : cg.unified, n))
        .filter((d) => cg.version === 1 || existsSync(join(d, 'init')));
      assert.equal(runs.length, 1, `one held run: ${runs.join(' ')}`);
      if (cg.version === 1) return runs[0]!;
      const leaves = readdirSync(runs[0]!).filter((n) => /^program-\d+$/.test(n));
      assert.equal(leaves.length, 1, `one program leaf: ${leaves.join(' ')}`);
      return join(runs[0]!, leaves[0]!);
    };

    it('every program runs on the hold\'s CPUs — on v2 each fresh program leaf gets them too; a program\'s own list wins for it', async () => {
      const home = cpus.at(-1)!;
      const held = await testHost().hold({ layers, cpuset: [home] });
      try {
        // Three programs in a row without a list of their own: the second and third start in
        // leaves made after the first ended (v2), which must carry the list as well.
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(await placed(held), { nproc: 1, allowed: [home] }, `program ${i + 1}`);
          assert.deepEqual(effectiveCpus(nextProgramDir()), [home], `the cgroup after program ${i + 1}`);
        }
        if (cpus.length > 1) {
          assert.deepEqual(await placed(held, [cpus[0]!]), { nproc: 1, allowed: [cpus[0]!] });
          assert.deepEqual(await placed(held), { nproc: 1, allowed: [home] }, 'back on the hold\'s CPUs');
        }
      } finally {
        await held.close();
      }
      await assert.rejects(testHost().hold({ layers, cpuset: [4095] }), /not all among/);
    });

    it('the worker\'s placing hold leases CPUs per program and gives them back', async () => {
      const leases = new CpuLeases(cpus);
      const other = leases.take(1); // a run of another slot, on the first CPU
      const held = await placingHold((spec) => testHost().hold(spec), leases)({ layers });
      try {
        const expected = cpus.length > 1 ? [cpus[1]!] : [cpus[0]!];
        assert.deepEqual(await placed(held), { nproc: 1, allowed: expected });
        assert.equal(leases.load()[expected[0]!], expected[0] === other.cpus[0] ? 1 : 0, 'the program\'s lease was given back');
        assert.deepEqual(await placed(held), { nproc: 1, allowed: expected }, 'the second program, in a fresh leaf on v2');
        assert.deepEqual(await placed(held, [cpus[0]!]), { nproc: 1, allowed: [cpus[0]!] }, 'a program naming its CPUs keeps them');
      } finally {
        await held.close();
        other.release();
      }
      assert.deepEqual(Object.values(leases.load()), cpus.map(() => 0));
    });
  });

  it('a pooled container takes its job\'s CPUs at dispatch', async () => {
    const pooled = SandboxHost.open({ pool: { maxWarm: 1, maxPerImage: 1 } });
    await testHost().settle(); // the two hosts share this process's run names
    const start = snapshot(pooled);
    try {
      const first = await runInSandbox({ layers, argv: ['true'], cpuset: [cpus[0]!] }, pooled);
      assert.equal(first.status, 'ok');
      for (let i = 0; i < 300 && !pooled.pool!.stats().some((s) => s.warm > 0); i++) await new Promise((r) => setTimeout(r, 10));
      const cpu = cpus.at(-1)!;
      const second = await runInSandbox({ layers, argv: ['/bin/sh', '-c', COUNT_SCRIPT], cpuset: [cpu] }, pooled);
      assert.equal(second.timings.pooled, true, 'the second run came from the pool');
      const c = counts(ok(second));
      assert.equal(c.nproc, 1);
      assert.deepEqual(c.allowed, [cpu]);
    } finally {
      await pooled.close();
    }
    assert.equal(snapshot(pooled), start, 'the pool left a container behind');
  });

  it('placement off: no cpuset cgroup, the run sees the host\'s CPUs', async () => {
    const off = SandboxHost.open({ cpuPlacement: false });
    try {
      assert.equal(off.placementCpus, null);
      assert.equal('cpuset' in off.cgroups, false);
      const c = counts(ok(await runInSandbox({ layers, argv: ['/bin/sh', '-c', COUNT_SCRIPT] }, off)));
      assert.equal(c.nproc, hostCpus.length);
      assert.deepEqual(c.allowed, hostCpus);
      await assert.rejects(off.run({ layers, argv: ['true'], cpuset: [0] }), /places no CPUs/);
    } finally {
      await off.close();
    }
  });

  it('refuses CPUs the host does not place runs on', async () => {
    await assert.rejects(testHost().run({ layers, argv: ['true'], cpuset: [4095] }), /not all among/);
    await assert.rejects(testHost().run({ layers, argv: ['true'], cpuset: [] }), /non-empty list/);
  });
});
