// Which cgroup hierarchy this host offers, found from /proc/self/mountinfo, and the parent
// cgroup(s) under which every run gets its own. Detected once per process.
import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupLayout =
  | { version: 1; memory: string; cpu: string; cpuacct: string; pids: string }
  | { version: 2; unified: string };

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
      controllers = superOptions.split(',').filter((o) => ['memory', 'cpu', 'cpuacct', 'pids'].includes(o));
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
export function detectCgroups(parentName: string, prefer?: 1 | 2, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupLayout {
  const mounts = parseCgroupMounts(mountinfo);
  const v2 = mounts.find((m) => m.fsType === 'cgroup2' && ['cpu', 'memory', 'pids'].every((c) => m.controllers.includes(c)));
  const v1For = (c: string) => mounts.find((m) => m.fsType === 'cgroup' && m.controllers.includes(c))?.mountPoint;
  const v1 = { memory: v1For('memory'), cpu: v1For('cpu'), cpuacct: v1For('cpuacct'), pids: v1For('pids') };
  const v1Complete = Object.values(v1).every(Boolean);
  if (v2 && prefer !== 1) return { version: 2, unified: join(v2.mountPoint, parentName) };
  if (v1Complete && prefer !== 2) {
    return {
      version: 1,
      memory: join(v1.memory!, parentName),
      cpu: join(v1.cpu!, parentName),
      cpuacct: join(v1.cpuacct!, parentName),
      pids: join(v1.pids!, parentName),
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
    return;
  }
  const root = join(layout.unified, '..');
  enableControllers(root);
  mkdirSync(layout.unified, { recursive: true });
  enableControllers(layout.unified);
}

function enableControllers(dir: string): void {
  const file = join(dir, 'cgroup.subtree_control');
  const enabled = readFileSync(file, 'utf8').split(/\s+/);
  const missing = ['cpu', 'memory', 'pids'].filter((c) => !enabled.includes(c));
  if (missing.length) writeFileSync(file, missing.map((c) => `+${c}`).join(' '));
}

export function cgroupParentDirs(layout: CgroupLayout): string[] {
  return layout.version === 1 ? [...new Set([layout.memory, layout.cpu, layout.cpuacct, layout.pids])] : [layout.unified];
}
