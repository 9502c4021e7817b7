// A cgroup of its own, with a CPU and a memory cap, for a helper daemon the host starts (the
// proc-view daemon). Its FUSE work is done on behalf of whichever container reads a view, and is
// charged to the daemon, not the reader: without a cap, a run that reads /proc/meminfo in a tight
// loop spends CPU beyond its own quota by proxy (docs/sandbox.md measured 0.23 core). Named like a
// run (corral-<pid>-<start>-<n>) under the runs' parents, so the start-up sweep removes a dead
// owner's, and the nothing-left-behind snapshots see it.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout } from './cgroups.ts';

export interface DaemonCgroupLimits {
  /** CPU bandwidth in CPUs (cfs quota / period). */
  cpus: number;
  memoryBytes: number;
}

export const DAEMON_CGROUP_DEFAULTS: Readonly<DaemonCgroupLimits> = Object.freeze({ cpus: 0.5, memoryBytes: 64 * 1024 * 1024 });

const PERIOD_US = 100_000;

export class DaemonCgroup {
  private constructor(
    /** Every directory the daemon joins (v1: one per hierarchy it is limited or counted in). */
    readonly dirs: readonly string[],
    readonly version: 1 | 2,
    readonly limits: DaemonCgroupLimits,
  ) {}

  /** Creates `name` under the runs' parents with the limits written; removes what it made when a write fails. */
  static create(layout: CgroupLayout, name: string, limits: DaemonCgroupLimits = DAEMON_CGROUP_DEFAULTS): DaemonCgroup {
    const dirs = layout.version === 1 ? [...new Set([layout.memory, layout.cpu, layout.cpuacct, layout.pids])].map((d) => join(d, name)) : [join(layout.unified, name)];
    const cg = new DaemonCgroup(dirs, layout.version, limits);
    const made: string[] = [];
    try {
      for (const dir of dirs) {
        mkdirSync(dir);
        made.push(dir);
      }
      const quotaUs = Math.max(1000, Math.round(limits.cpus * PERIOD_US));
      if (layout.version === 1) {
        const [mem, cpu] = [join(layout.memory, name), join(layout.cpu, name)];
        writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
        writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(quotaUs));
        writeFileSync(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      } else {
        writeFileSync(join(dirs[0]!, 'cpu.max'), `${quotaUs} ${PERIOD_US}`);
        writeFileSync(join(dirs[0]!, 'memory.max'), String(limits.memoryBytes));
        try {
          writeFileSync(join(dirs[0]!, 'memory.swap.max'), '0');
        } catch {
          /* no swap accounting: no swap to limit */
        }
      }
      return cg;
    } catch (err) {
      for (const dir of made.reverse()) tryRmdir(dir);
      throw new Error(`daemon cgroup ${name}: ${(err as Error).message}`);
    }
  }

  /** Moves a process (every thread of it) into the cgroup. */
  add(pid: number): void {
    for (const dir of this.dirs) writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  }

  /** Whether every thread of `pid` is in the cgroup, in each hierarchy of it. */
  holds(pid: number): boolean {
    const name = this.dirs[0]!.slice(this.dirs[0]!.lastIndexOf('/') + 1);
    return readdirSync(`/proc/${pid}/task`).every((tid) => {
      const lines = readFileSync(`/proc/${pid}/task/${tid}/cgroup`, 'utf8').split('\n');
      return lines.filter((l) => l.endsWith(`/${name}`)).length === this.dirs.length;
    });
  }

  /** Removes the directories (call once the daemon is gone; a cgroup still busy is retried briefly). */
  remove(): void {
    for (const dir of this.dirs) {
      for (let attempt = 0; ; attempt++) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= 100) throw err;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // its last task is still exiting
        }
      }
    }
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* absent, or busy: the sweep removes it */
  }
}
