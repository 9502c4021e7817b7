// CPU placement through the real sandbox (docs/sandbox.md#cpu-placement): a run given CPUs
// (spec.cpuset) sees exactly those, by every way a program counts CPUs — its affinity mask (nproc,
// Python's sched_getaffinity, Java's availableProcessors), the truthful /proc (cpuinfo, stat; so
// Python's os.cpu_count and Node's os.cpus) — cold and from the warm pool; with placement off a
// run sees the host's; nothing of it (cpuset cgroups) is left behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxHost, type SandboxOutcome, type SandboxSpec } from '../../worker/sandbox/index.ts';
import { parseCpuList } from '../../worker/sandbox/cgroups.ts';
import { PROCVIEW_BIN } from '../../worker/sandbox/proc-view.ts';
import { ImageStore } from '../../rootfs-images/store.ts';
import { busyboxLayers, expectNothingLeftBehind, runInSandbox, slowHostLimits, snapshot, testHost } from '../helpers/sandbox.ts';

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

  it('Node: os.cpus().length and os.availableParallelism() are 1', async (t) => {
    const js = await imageLayers('js-runtimes');
    if (!js) return t.skip('js-runtimes image (Debian\'s Node) not built');
    const script = 'const os = require("os"); console.log(os.cpus().length, os.availableParallelism ? os.availableParallelism() : "-")';
    const out = ok(await runInSandbox({ layers: js, argv: ['node', '-e', script], limits: { cpus: 1, memoryBytes: 512 * MiB, ...slowHostLimits() }, cpuset: [cpus[0]!] }));
    const [cpusLength, parallelism] = out.trim().split(' ');
    // libuv counts /proc/stat's cpuN lines (the view's); availableParallelism is the affinity mask (Node >= 18.14).
    if (withView) assert.equal(cpusLength, '1');
    assert.ok(parallelism === '-' || parallelism === '1', out);
  });

  it('Java: Runtime.availableProcessors() is 1', async (t) => {
    const java = await imageLayers('managed');
    if (!java) return t.skip('managed image (OpenJDK) not built');
    const source = 'public class P { public static void main(String[] a) { System.out.println(Runtime.getRuntime().availableProcessors()); } }';
    const spec: SandboxSpec = {
      layers: java, argv: ['/bin/sh', '-c', `printf '%s' '${source}' > /tmp/P.java && java -Xshare:auto -XX:TieredStopAtLevel=1 /tmp/P.java`],
      limits: { cpus: 1, memoryBytes: 768 * MiB, processes: 256, cpuMs: 20_000, wallMs: 40_000 }, cpuset: [cpus.at(-1)!],
    };
    assert.equal(ok(await runInSandbox(spec)).trim(), '1');
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
