// Which cgroup hierarchy this host offers, found from /proc/self/mountinfo, and the parent
// cgroup(s) under which every run gets its own. Detected once per process.
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `cpuset`: where CPU placement happens (v1: the cpuset hierarchy's parent; v2: true when the
 * cpuset controller is enabled for runs); absent where the kernel has no cpuset controller or
 * placement is off: runs then use the worker's CPUs. */
export type CgroupLayout =
  | { version: 1; memory: string; cpu: string; cpuacct: string; pids: string; cpuset?: string }
  | { version: 2; unified: string; cpuset?: true };

interface CgroupMount {
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2';
  controllers: string[];
}

export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const [fsType, , superOptions = ''] = line.slice(dash + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const mountPoint = left[4]!.replace(/\\040/g, ' ');
    let controllers: string[];
    if (fsType === 'cgroup2') {
      const file = join(mountPoint, 'cgroup.controllers');
      controllers = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean) : [];
    } else {
      controllers = superOptions.split(',').filter((o) => ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset'].includes(o));
    }
    mounts.push({ mountPoint, fsType, controllers });
  }
  return mounts;
}

export class CgroupUnavailableError extends Error {}

/**
 * Picks v2 when a cgroup2 mount has cpu, memory and pids; else v1 when all four v1 controllers
 * are mounted. `prefer` forces one (for tests). The parent is created under each hierarchy's root.
 */
export function detectCgroups(parentName: string, prefer?: 1 | 2, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'), cpuPlacement = true): CgroupLayout {
  const mounts = parseCgroupMounts(mountinfo);
  const v2 = mounts.find((m) => m.fsType === 'cgroup2' && ['cpu', 'memory', 'pids'].every((c) => m.controllers.includes(c)));
  const v1For = (c: string) => mounts.find((m) => m.fsType === 'cgroup' && m.controllers.includes(c))?.mountPoint;
  const v1 = { memory: v1For('memory'), cpu: v1For('cpu'), cpuacct: v1For('cpuacct'), pids: v1For('pids') };
  const v1Complete = Object.values(v1).every(Boolean);
  if (v2 && prefer !== 1) {
    const cpuset = cpuPlacement && v2.controllers.includes('cpuset');
    return { version: 2, unified: join(v2.mountPoint, parentName), ...(cpuset ? { cpuset: true as const } : {}) };
  }
  if (v1Complete && prefer !== 2) {
    const cpuset = cpuPlacement ? v1For('cpuset') : undefined;
    return {
      version: 1,
      memory: join(v1.memory!, parentName),
      cpu: join(v1.cpu!, parentName),
      cpuacct: join(v1.cpuacct!, parentName),
      pids: join(v1.pids!, parentName),
      ...(cpuset ? { cpuset: join(cpuset, parentName) } : {}),
    };
  }
  const seen = mounts.map((m) => `${m.mountPoint} (${m.fsType}: ${m.controllers.join(',') || 'no controllers'})`).join('; ');
  throw new CgroupUnavailableError(
    `no usable cgroup hierarchy: Corral needs cgroup v2 with the cpu, memory and pids controllers, or cgroup v1 with memory, cpu, cpuacct and pids mounted. Found: ${seen || 'no cgroup mounts'}`,
  );
}

/** Creates the parent cgroup(s); on v2 also delegates the controllers to its children. */
export function ensureCgroupParents(layout: CgroupLayout): void {
  if (layout.version === 1) {
    for (const dir of new Set([layout.memory, layout.cpu, layout.cpuacct, layout.pids])) mkdirSync(dir, { recursive: true });
    noSwapForChildren(layout.memory);
    if (layout.cpuset) ensureCpusetParent(layout.cpuset);
    return;
  }
  const controllers = layout.cpuset ? ['cpu', 'memory', 'pids', 'cpuset'] : ['cpu', 'memory', 'pids'];
  const root = join(layout.unified, '..');
  enableControllers(root, controllers);
  mkdirSync(layout.unified, { recursive: true });
  enableControllers(layout.unified, controllers);
}

/**
 * v1: a run's memory.swappiness is copied from its parent when the run's directory is made, so the
 * parent gets 0 once and no run writes its own (native/src/cgroup.c). Absent on some kernels:
 * then there is nothing to set. Best effort, as the per-run write was: a kernel that refuses it
 * (old ones did for a cgroup with children) must not stop the worker — runs then swap as their
 * parent does, within their memsw limit where swap is accounted.
 */
function noSwapForChildren(dir: string): void {
  const file = join(dir, 'memory.swappiness');
  try {
    if (existsSync(file) && readFileSync(file, 'utf8').trim() !== '0') writeFileSync(file, '0');
  } catch {
    /* best effort (above) */
  }
}

function enableControllers(dir: string, controllers: string[]): void {
  const file = join(dir, 'cgroup.subtree_control');
  const enabled = readFileSync(file, 'utf8').split(/\s+/);
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length) writeFileSync(file, missing.map((c) => `+${c}`).join(' '));
}

/**
 * A v1 cpuset directory starts with no CPUs and no memory nodes and refuses tasks: the parent
 * gets its parent's, and cgroup.clone_children, so that each run's directory is born with them
 * (no write per run but its own CPU list).
 */
function ensureCpusetParent(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    if (readFileSync(join(dir, file), 'utf8').trim() === '') writeFileSync(join(dir, file), readFileSync(join(dir, '..', file), 'utf8').trim());
  }
  if (readFileSync(join(dir, 'cgroup.clone_children'), 'utf8').trim() !== '1') writeFileSync(join(dir, 'cgroup.clone_children'), '1');
}

export function cgroupParentDirs(layout: CgroupLayout): string[] {
  if (layout.version === 2) return [layout.unified];
  return [...new Set([layout.memory, layout.cpu, layout.cpuacct, layout.pids, ...(layout.cpuset ? [layout.cpuset] : [])])];
}

/** The CPUs runs may be placed on: the parent cpuset's effective CPUs; null without placement. */
export function placementCpus(layout: CgroupLayout): number[] | null {
  if (!layout.cpuset) return null;
  const file = layout.version === 1 ? join(layout.cpuset, 'cpuset.effective_cpus') : join(layout.unified, 'cpuset.cpus.effective');
  const cpus = parseCpuList(readFileSync(file, 'utf8'));
  return cpus.length ? cpus : null;
}

/** "0-2,5\n" → [0, 1, 2, 5] (the kernel's list format, as in cpuset.cpus and Cpus_allowed_list). */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
    for (let cpu = from; cpu <= to && cpu - from < 4096; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}
