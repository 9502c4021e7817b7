// The proc-view daemon runs in a capped cgroup of its own (worker/sandbox/daemon-cgroup.ts): a run
// that reads the views in a tight loop makes the daemon work, and that work stays inside the cap —
// the daemon (every thread, also a restarted one) stays in its cgroup, the cap is written, another
// run still completes and reads its own values, and the cgroup is gone after close. Facts only,
// no timing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxHost } from '../../worker/sandbox/index.ts';
import { PROCVIEW_BIN } from '../../worker/sandbox/proc-view.ts';
import { DAEMON_CGROUP_DEFAULTS } from '../../worker/sandbox/daemon-cgroup.ts';
import { busyboxLayers, runInSandbox, settledSnapshot, slowHostLimits, snapshot } from '../helpers/sandbox.ts';

const MiB = 1024 * 1024;
const skip = process.getuid?.() !== 0 ? 'needs root'
  : !existsSync('/dev/fuse') ? 'no /dev/fuse'
  : !existsSync(PROCVIEW_BIN) ? `${PROCVIEW_BIN} is not built (apt-get install libfuse3-dev; make -C native)`
  : false;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU the cgroup has used, in µs (v1 cpuacct.usage, v2 cpu.stat usage_usec). */
function cgroupCpuUs(host: SandboxHost, dirs: readonly string[]): number {
  if (host.cgroups.version === 2) return Number(/^usage_usec (\d+)$/m.exec(readFileSync(join(dirs[0]!, 'cpu.stat'), 'utf8'))![1]);
  const acct = dirs.find((d) => d.startsWith(host.cgroups.version === 1 ? host.cgroups.cpuacct : ''))!;
  return Number(readFileSync(join(acct, 'cpuacct.usage'), 'utf8')) / 1000;
}

describe('the proc-view daemon\'s own cgroup', { skip }, () => {
  let host: SandboxHost;
  let layers: string[];
  let start: string;
  before(async () => {
    layers = await busyboxLayers();
    host = SandboxHost.open();
    start = snapshot(host);
    await host.startProcView();
  });
  after(async () => {
    const dirs = host.procViewDaemon?.cgroup.dirs ?? [];
    await host.close();
    for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} is left behind`);
    assert.equal(await settledSnapshot(host), start, 'something was left behind');
  });

  it('holds the daemon with its CPU and memory caps written', () => {
    const daemon = host.procViewDaemon!;
    assert.ok(daemon.pid);
    assert.ok(daemon.cgroup.holds(daemon.pid), readFileSync(`/proc/${daemon.pid}/cgroup`, 'utf8'));
    const quotaUs = String(DAEMON_CGROUP_DEFAULTS.cpus * 100_000);
    const cg = host.cgroups;
    if (cg.version === 1) {
      const name = daemon.cgroup.dirs[0]!.split('/').pop()!;
      assert.equal(readFileSync(join(cg.cpu, name, 'cpu.cfs_quota_us'), 'utf8').trim(), quotaUs);
      assert.equal(readFileSync(join(cg.memory, name, 'memory.limit_in_bytes'), 'utf8').trim(), String(DAEMON_CGROUP_DEFAULTS.memoryBytes));
    } else {
      assert.equal(readFileSync(join(daemon.cgroup.dirs[0]!, 'cpu.max'), 'utf8').trim(), `${quotaUs} 100000`);
      assert.equal(readFileSync(join(daemon.cgroup.dirs[0]!, 'memory.max'), 'utf8').trim(), String(DAEMON_CGROUP_DEFAULTS.memoryBytes));
    }
  });

  it('a tight-loop reader: the daemon\'s work is charged to its cgroup, it stays there, and another run completes with its own values', async () => {
    const daemon = host.procViewDaemon!;
    const usedBefore = cgroupCpuUs(host, daemon.cgroup.dirs);
    const stop = new AbortController();
    const loop = runInSandbox({
      layers, signal: stop.signal, argv: ['/bin/sh', '-c', 'while :; do cat /proc/meminfo /proc/stat /proc/cpuinfo /proc/uptime > /dev/null; done'],
      limits: { cpus: 1, cpuMs: 60_000, wallMs: 60_000 },
    }, host);
    try {
      // Wait until the loop has made the daemon work (a condition, not a duration).
      for (let i = 0; i < 1000 && cgroupCpuUs(host, daemon.cgroup.dirs) - usedBefore < 50_000; i++) await sleep(20);
      assert.ok(cgroupCpuUs(host, daemon.cgroup.dirs) - usedBefore >= 50_000, 'the reader made the daemon work, charged to its cgroup');
      const other = await runInSandbox({
        layers, argv: ['/bin/sh', '-c', 'grep MemTotal /proc/meminfo; grep -c "^processor" /proc/cpuinfo; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i'],
        limits: { memoryBytes: 96 * MiB, cpus: 1, ...slowHostLimits() },
      }, host);
      assert.equal(other.status, 'ok', `${other.error ?? ''} ${other.stderr.toString()}`);
      assert.deepEqual(other.stdout.toString().trim().split('\n'), [`MemTotal:          ${96 * 1024} kB`, '1', '20000']);
      assert.ok(daemon.cgroup.holds(daemon.pid!), 'every daemon thread is still in its cgroup');
    } finally {
      stop.abort();
    }
    assert.equal((await loop).status, 'cancelled');
  });

  it('a restarted daemon goes into the same cgroup', async () => {
    const first = host.procViewDaemon!.pid!;
    process.kill(first, 'SIGKILL');
    for (let i = 0; i < 500 && (host.procViewDaemon?.pid === first || host.notReady()); i++) await sleep(20);
    const daemon = host.procViewDaemon!;
    assert.notEqual(daemon.pid, first);
    assert.equal(host.notReady(), undefined);
    assert.ok(daemon.cgroup.holds(daemon.pid!), readFileSync(`/proc/${daemon.pid}/cgroup`, 'utf8'));
  });
});
