// The cgroup drivers: detection from mountinfo (pure), and the limits a run's cgroup really
// gets on this host's hierarchy — v1 here, v2 when the suite runs under the cg2 kernel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroups, parseCgroupMounts } from '../../worker/sandbox/cgroups.ts';
import { busyboxLayers, expectNothingLeftBehind, runInSandbox, testHost } from '../helpers/sandbox.ts';

const V1_MOUNTINFO = `
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const COMOUNTED = `
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids`;

describe('cgroup detection', () => {
  it('picks v1 with one parent per controller when the v2 mount has no controllers', () => {
    const layout = detectCgroups('corral', undefined, V1_MOUNTINFO);
    assert.deepEqual(layout, {
      version: 1,
      memory: '/sys/fs/cgroup/memory/corral',
      cpu: '/sys/fs/cgroup/cpu/corral',
      cpuacct: '/sys/fs/cgroup/cpuacct/corral',
      pids: '/sys/fs/cgroup/pids/corral',
    });
  });

  it('handles co-mounted cpu,cpuacct', () => {
    const layout = detectCgroups('x', undefined, COMOUNTED);
    assert.equal(layout.version, 1);
    if (layout.version === 1) assert.equal(layout.cpu, layout.cpuacct);
  });

  it('says what it found when no hierarchy is usable', () => {
    assert.throws(() => detectCgroups('corral', undefined, '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'), /no usable cgroup hierarchy.*memory/);
  });

  it('parses controller lists from v1 super options', () => {
    assert.deepEqual(parseCgroupMounts(COMOUNTED)[0]!.controllers, ['cpu', 'cpuacct']);
  });
});

describe('cgroup driver on this host', () => {
  let layers: string[];
  before(async () => {
    layers = await busyboxLayers();
  });
  expectNothingLeftBehind();

  it(`runs on cgroup v${process.env.CG2_VM ? 2 : 'detected'} (v2 inside the cg2 kernel)`, () => {
    if (process.env.CG2_VM) assert.equal(testHost().cgroups.version, 2);
    else console.log(`# cgroup v${testHost().cgroups.version} on this host`);
    assert.ok([1, 2].includes(testHost().cgroups.version));
  });

  it('gives each run a fresh cgroup with the memory, pids and CPU limits written', async () => {
    const host = testHost();
    const run = runInSandbox({ layers, argv: ['sleep', '1'], limits: { memoryBytes: 48 << 20, processes: 17, cpus: 0.5 } });
    const mine = (d: string) => readdirSync(d).filter((n) => n.startsWith(`corral-${host.tag}-`));
    // Limits are written when the job is dispatched, so read them once the program runs.
    const running = (dir: string) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)
      .some((pid) => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep'; } catch { return false; } });
    let seen: Record<string, string> | undefined;
    for (let i = 0; i < 200 && !seen; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const c = host.cgroups;
      try {
        if (c.version === 1) {
          const [name] = mine(c.memory);
          if (!name || !running(join(c.pids, name))) continue;
          seen = {
            memory: readFileSync(join(c.memory, name, 'memory.limit_in_bytes'), 'utf8').trim(),
            pids: readFileSync(join(c.pids, name, 'pids.max'), 'utf8').trim(),
            cpu: readFileSync(join(c.cpu, name, 'cpu.cfs_quota_us'), 'utf8').trim(),
            // Neither is written per run (native/src/cgroup.c): the period is the kernel's
            // default, the swappiness the parent's, copied at mkdir.
            period: readFileSync(join(c.cpu, name, 'cpu.cfs_period_us'), 'utf8').trim(),
            swappiness: readFileSync(join(c.memory, name, 'memory.swappiness'), 'utf8').trim(),
          };
        } else {
          const [name] = mine(c.unified);
          // The program's leaf carries the limits; the init sits beside it in init/.
          const prog = name && join(c.unified, name, 'prog');
          if (!prog || !running(prog)) continue;
          seen = {
            memory: readFileSync(join(prog, 'memory.max'), 'utf8').trim(),
            pids: readFileSync(join(prog, 'pids.max'), 'utf8').trim(),
            cpu: readFileSync(join(prog, 'cpu.max'), 'utf8').trim().split(' ')[0]!,
            // Only clone3(CLONE_INTO_CGROUP) puts the init there: nothing ever writes it in.
            init: readFileSync(join(c.unified, name, 'init', 'cgroup.procs'), 'utf8').trim() ? 'occupied' : 'empty',
          };
        }
      } catch {
        /* created but not yet written, or already gone: look again */
      }
    }
    await run;
    const expected = { memory: String(48 << 20), pids: '17', cpu: '50000' };
    assert.deepEqual(seen, host.cgroups.version === 2 ? { ...expected, init: 'occupied' } : { ...expected, period: '100000', swappiness: '0' });
  });

  it('throttles CPU bandwidth to the quota', async () => {
    const r = await runInSandbox({ layers, argv: ['sh', '-c', 'while :; do :; done'], limits: { cpus: 0.2, wallMs: 1000, cpuMs: 5000 } });
    assert.equal(r.limit, 'wall');
    assert.ok(r.cpuMs < 600, `a 20% quota over 1 s wall used ${r.cpuMs} ms of CPU`);
  });
});

describe('kernel check', () => {
  it('names what an old kernel lacks', async () => {
    const { checkKernel } = await import('../../worker/sandbox/host.ts');
    assert.throws(() => checkKernel('5.4.0-150-generic'), /Linux 5\.4\.0-150-generic is too old.*5\.11/);
    assert.doesNotThrow(() => checkKernel('6.1.0'));
  });
});
