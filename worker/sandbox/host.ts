// The sandbox's one door: a SandboxHost owns where job volumes and init layers live, which cgroup
// hierarchy runs go into, its warm pool, and the sweep that removes what a killed worker left
// behind; through it a caller runs a program (run), streams one (stream), connects two programs'
// stdio (connect), holds a container open for several programs (hold) and makes job volumes
// (createVolume). Any number of hosts may live in one
// process. Everything a run creates is named `corral-<owner pid>-<owner start time>-<n>`, with n
// counted for the whole process (so two hosts never collide), so a sweep can tell a live
// worker's runs from a dead one's.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { SandboxError } from './errors.ts';
import { release as osRelease } from 'node:os';
import { cgroupParentDirs, detectCgroups, ensureCgroupParents, placementCpus, type CgroupLayout } from './cgroups.ts';
import { connectTwo } from './connect.ts';
import { holdOne } from './held.ts';
import { DaemonCgroup, type DaemonCgroupLimits } from './daemon-cgroup.ts';
import { SANDBOX_ID, type HostContext } from './context.ts';
import { loadNative, type NativeContainer } from './native.ts';
import { WarmPool, type WarmPoolOptions } from './pool.ts';
import { ProcView, type ProcViewOptions } from './proc-view.ts';
import { runOne } from './run.ts';
import { streamOne } from './stream.ts';
import type { ConnectOptions, ConnectedOutcome, HeldContainer, HoldSpec, SandboxOutcome, SandboxSpec, StreamingOptions, StreamingRun } from './types.ts';
import { mountVolume, type Volume } from './volume.ts';
import { WarmVolumes, type WarmVolumesOptions } from './volume-pool.ts';

export interface SandboxHostOptions {
  /** Root of Corral's host state (runs, volumes, init layers). Default /var/lib/corral. */
  stateDir?: string;
  /** Name of the parent cgroup in each hierarchy. Default "corral" for the default state
   * directory, "corral-<hash of the state directory>" for another: two Corrals on one host with
   * their own state directories never sweep, nor count, each other's runs. */
  cgroupParent?: string;
  /** Sweep what dead owners left this often (ms) while the host is open; 0 or absent = only at open. */
  sweepIntervalMs?: number;
  /** Keep containers warm (built ahead, used once); false or absent = every run cold. */
  pool?: WarmPoolOptions | boolean;
  /** Keep empty job volumes mounted ahead of need (each used once); false or absent = mount per run. */
  volumes?: WarmVolumesOptions | boolean;
  /** Force cgroup v1 or v2 instead of detecting. */
  cgroupVersion?: 1 | 2;
  /** Host uid/gid that container id 0 maps to; container ids 0..65535 map onto [idBase, idBase+65536). */
  idBase?: number;
  /** CPU placement (spec.cpuset) where the kernel has a cpuset controller; false: none, every run
   * on the worker's CPUs (no cpuset cgroup is made). Default true. */
  cpuPlacement?: boolean;
}

/** A truthful /proc in every container (docs/sandbox.md): the daemon and its options. */
export type ProcViewSetting = Omit<ProcViewOptions, 'dir' | 'onChange' | 'cgroup'> & {
  /** The daemon's own cgroup's caps (default DAEMON_CGROUP_DEFAULTS: half a CPU, 64 MiB). */
  daemonLimits?: DaemonCgroupLimits;
};

/** A run ending this long after the previous one finds the host quiet (afterRun). */
const QUIET_GAP_MS = 50;
/** On a quiet host, work that follows a run waits this long. */
const QUIET_DELAY_MS = 5;

/** Names of runs and volumes, counted for the whole process: two hosts in one process share the
 * owner tag (pid and start time) and must never hand out the same name. */
let namesGiven = 0;

export class SandboxHost implements HostContext {
  readonly stateDir: string;
  /** The directory every container mounts its scratch tmpfs over, in its own namespace (it
   * stays empty on the host; native/src/mount.c). */
  readonly runsDir: string;
  readonly volumesDir: string;
  readonly initDir: string;
  /** Where each host's proc-view daemon has its directory (pid file, mount point). */
  readonly procViewsDir: string;
  /** The container's /dev, bound read-only into every run. */
  readonly devDir: string;
  /** An empty read-only directory that hides /proc subdirectories. */
  readonly emptyDir: string;
  readonly cgroups: CgroupLayout;
  /** The CPUs runs may be placed on (spec.cpuset): the parent cpuset's; null without placement. */
  placementCpus: readonly number[] | null = null;
  readonly idBase: number;
  /** Host uid/gid of the sandbox user, owner of job volumes. */
  readonly sandboxHostId: number;
  readonly hasTimeNamespace: boolean;
  readonly tag: string;
  /** Cold containers built again after their mount plan failed (runInSandbox). */
  setupRetries = 0;
  /** The warm pool, when enabled. */
  readonly pool: WarmPool | undefined;
  /** Warm job volumes, when enabled. */
  readonly volumes: WarmVolumes | undefined;
  private readonly discarding = new Set<Promise<void>>();
  /** Held containers not closed yet: close() closes them. */
  private readonly held = new Set<HeldContainer>();
  private lastDiscardAt = -Infinity;
  private quiet = true;
  /** Average time a container's teardown takes, in the background. */
  teardownMsAvg = 0;
  private procView: ProcView | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private procViewWanted = false;
  private procViewCgroup: DaemonCgroup | undefined;

  get procViewDir(): string | null {
    return this.procView?.mountDir ?? null;
  }

  notReady(): string | undefined {
    if (!this.procViewWanted) return undefined;
    if (!this.procView?.healthy()) return 'the truthful /proc (proc-view daemon) is down; runs wait until it serves again';
    return undefined;
  }

  /**
   * Starts the proc-view daemon under the state directory and binds its files over every
   * container's /proc from now on (rejects, leaving nothing, when it cannot start). A daemon that
   * dies is restarted by ProcView; meanwhile no container is built, and the warm containers built
   * under the dead one are discarded.
   */
  async startProcView(setting: ProcViewSetting = {}): Promise<void> {
    this.procViewWanted = true;
    const { daemonLimits, ...options } = setting;
    // A directory and a capped cgroup of this host's own (named like a run, so the sweep can tell
    // a dead owner's and removes both).
    const name = this.nextName();
    const cgroup = DaemonCgroup.create(this.cgroups, name, daemonLimits);
    try {
      this.procView = await ProcView.start({
        ...options,
        dir: join(this.procViewsDir, name),
        cgroup,
        onChange: (event) => { if (event.state === 'serving' && event.generation > 1) this.pool?.drain(); },
      });
    } catch (err) {
      cgroup.remove();
      throw err;
    }
    this.procViewCgroup = cgroup;
    this.pool?.drain();
  }

  /** The proc-view daemon's capped cgroup while it runs (for tests and checks). */
  get procViewDaemon(): { pid: number | undefined; cgroup: DaemonCgroup } | undefined {
    return this.procView && this.procViewCgroup ? { pid: this.procView.pid, cgroup: this.procViewCgroup } : undefined;
  }

  private constructor(options: SandboxHostOptions) {
    this.stateDir = options.stateDir ?? '/var/lib/corral';
    this.runsDir = join(this.stateDir, 'runs');
    this.volumesDir = join(this.stateDir, 'volumes');
    this.initDir = join(this.stateDir, 'init-layers');
    this.procViewsDir = join(this.stateDir, 'proc-view');
    this.devDir = join(this.stateDir, 'dev');
    this.emptyDir = join(this.stateDir, 'empty');
    this.idBase = options.idBase ?? 1_000_000;
    this.sandboxHostId = this.idBase + SANDBOX_ID;
    this.cgroups = detectCgroups(options.cgroupParent ?? defaultCgroupParent(this.stateDir), options.cgroupVersion, undefined, options.cpuPlacement ?? true);
    // Linux 5.6–6.2 have time namespaces but refuse the init's CLONE_VM spawn into one
    // (native/src/timens.c): there runs go without, rather than fail.
    this.hasTimeNamespace = existsSync('/proc/self/ns/time') && loadNative().timeNamespaceUsable();
    this.tag = `${process.pid}-${processStartTime(process.pid)}`;
    this.pool = options.pool
      ? new WarmPool(() => this.nextName(), (c) => this.discard(c), options.pool === true ? {} : options.pool, (work) => this.afterRun(work))
      : undefined;
    this.volumes = options.volumes
      ? new WarmVolumes((size) => mountVolume(this, size), options.volumes === true ? {} : options.volumes)
      : undefined;
  }

  /** Destroys a used (or unused) container in the background. */
  discard(container: NativeContainer): void {
    const started = performance.now();
    this.quiet = started - this.lastDiscardAt > QUIET_GAP_MS;
    this.lastDiscardAt = started;
    const done: Promise<void> = new Promise<void>((resolve) => this.afterRun(resolve))
      .then(() => loadNative().discard(container))
      .then(() => {
        this.teardownMsAvg = this.teardownMsAvg * 0.9 + (performance.now() - started) * 0.1;
      })
      // Rejects only when the native call could not be made: the container's leftovers then stay
      // until a sweep after this process has gone (sweep() removes only what dead owners left).
      // Nobody waits on a background teardown, so its failure must not become an unhandled
      // rejection (the worker would exit).
      .catch(() => {})
      .finally(() => this.discarding.delete(done));
    this.discarding.add(done);
  }

  /**
   * Runs `work` that follows a run (its container's teardown, the pool's next build) once the
   * run's result is on its way: on a quiet host (no other container discarded in the
   * QUIET_GAP_MS before this run's) QUIET_DELAY_MS later, else on the next turn of the event
   * loop. A teardown (the init's exit tears down its namespaces) and a build take a CPU for a
   * millisecond or more; on a 2-core host, started at once they competed with the result's
   * Redis write and HTTP answer (measured on an idle stack). Under load there is no quiet moment
   * to wait for, and the pool must keep up.
   */
  afterRun(work: () => void): void {
    if (this.quiet) setTimeout(work, QUIET_DELAY_MS);
    else setImmediate(work);
  }

  /** Resolves once every background teardown has finished. */
  async settle(): Promise<void> {
    while (this.discarding.size) await Promise.all([...this.discarding]);
  }

  /** Closes the held containers still open, destroys the warm pool's containers and volumes and
   * waits for every teardown (on SIGTERM). */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await Promise.all([...this.held].map((h) => h.close()));
    await Promise.all([this.pool?.close(), this.volumes?.close()]);
    await this.settle();
    if (this.procView) {
      await this.procView.close();
      this.procViewCgroup?.remove();
      this.procViewCgroup = undefined;
      tryRmdir(join(this.procView.mountDir));
      tryRmdir(join(this.procView.mountDir, '..'));
    }
  }

  /** Creates the directories and parent cgroups, and sweeps what dead owners left. */
  static open(options: SandboxHostOptions = {}): SandboxHost {
    if (process.getuid?.() !== 0) throw new SandboxError('host', 'the sandbox needs root (it creates namespaces, cgroups and mounts)');
    checkKernel();
    loadNative();
    const host = new SandboxHost(options);
    for (const dir of [host.stateDir, host.runsDir, host.volumesDir, host.initDir, host.procViewsDir]) mkdirSync(dir, { recursive: true, mode: 0o755 });
    checkTraversable(host.stateDir);
    ensureCgroupParents(host.cgroups);
    host.placementCpus = placementCpus(host.cgroups);
    makeDevTemplate(host.devDir);
    mkdirSync(host.emptyDir, { recursive: true, mode: 0o555 });
    host.sweep();
    if (options.sweepIntervalMs) {
      // A worker killed on this host leaves its containers, cgroups and volumes until someone
      // sweeps; a live worker does so periodically, not only when one starts.
      host.sweepTimer = setInterval(() => {
        try {
          host.sweep();
        } catch {
          /* a cgroup that stays busy: the next sweep tries again */
        }
      }, options.sweepIntervalMs);
      host.sweepTimer.unref();
    }
    return host;
  }

  nextName(): string {
    return `corral-${this.tag}-${++namesGiven}`;
  }

  noteSetupRetry(): void {
    this.setupRetries++;
  }

  /**
   * Runs one program in a fresh container and resolves with its outcome: the program failing
   * (exit code, signal, a limit) is an outcome, and so is a failure of the sandbox itself
   * (status internal_error, `failure` says what and where). `spec.signal` aborts it (cancelled).
   * Rejects only for an invalid spec (SandboxError 'spec').
   */
  run(spec: SandboxSpec): Promise<SandboxOutcome> {
    return runOne(spec, this);
  }

  /** Runs one program with its output passed on as it comes and, with `stdinPipe`, stdin written while it runs. */
  stream(spec: SandboxSpec, options: StreamingOptions): StreamingRun {
    return streamOne(spec, options, this);
  }

  /** Runs two programs at once, each in its own container, the first's stdout being the second's stdin and back. */
  connect(first: SandboxSpec, second: SandboxSpec, signal?: AbortSignal, options?: ConnectOptions): Promise<ConnectedOutcome> {
    return connectTwo(first, second, this, signal, options);
  }

  /**
   * A container held open for several programs, one after another (HeldContainer.run), each with
   * its own outcome and limits; /box and the writable tmpfs carry over between them. A warm
   * container from the pool when there is one for this image. Rejects with a SandboxError when no
   * container can be built.
   */
  async hold(spec: HoldSpec): Promise<HeldContainer> {
    const held = await holdOne(spec, this, (h) => this.held.delete(h));
    this.held.add(held);
    return held;
  }

  /** A fresh job volume: a warm one from the host's set when it has one of this size, else mounted now. */
  async createVolume(options: { sizeBytes: number }): Promise<Volume> {
    return this.volumes?.take(options.sizeBytes) ?? mountVolume(this, options.sizeBytes);
  }

  /** Removes run cgroups and volumes whose owning process is gone (and run directories, which
   * only versions before containers mounted their scratch privately made). */
  sweep(): { cgroups: number; runDirs: number; volumes: number; procViews: number } {
    const swept = { cgroups: 0, runDirs: 0, volumes: 0, procViews: 0 };
    for (const parent of cgroupParentDirs(this.cgroups)) {
      for (const name of staleEntries(parent)) {
        if (removeCgroupTree(join(parent, name))) swept.cgroups++;
      }
    }
    for (const name of staleEntries(this.runsDir)) {
      for (const sub of ['root', 'scratch', '']) tryRmdir(join(this.runsDir, name, sub));
      swept.runDirs++;
    }
    const mounted = mountPoints();
    for (const name of staleEntries(this.volumesDir)) {
      const dir = join(this.volumesDir, name);
      if (mounted.has(dir)) loadNative().volumeUmountSync(dir);
      tryRmdir(dir);
      swept.volumes++;
    }
    for (const name of staleEntries(this.procViewsDir)) {
      sweepProcView(join(this.procViewsDir, name), mounted);
      swept.procViews++;
    }
    return swept;
  }
}

const DEVICES: Array<[name: string, major: number, minor: number]> = [
  ['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9],
];
const DEV_LINKS: Array<[name: string, target: string]> = [
  ['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'],
];

/** The /dev every container gets: made once (atomically), then only bound read-only. */
function makeDevTemplate(dir: string): void {
  if (existsSync(join(dir, 'urandom'))) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'shm'), { recursive: true, mode: 0o755 });
  for (const [name, major, minor] of DEVICES) {
    execFileSync('mknod', ['-m', '0666', join(tmp, name), 'c', String(major), String(minor)]);
  }
  for (const [name, target] of DEV_LINKS) symlinkSync(target, join(tmp, name));
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'urandom'))) throw err;
  }
}

/** The kernel features the launcher relies on, each named when missing. */
export function checkKernel(release = osRelease()): void {
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  if (major < 5 || (major === 5 && minor < 11)) {
    throw new Error(`Linux ${release} is too old for the sandbox: it needs 5.11 or newer (overlayfs inside a user namespace)`);
  }
  for (const ns of ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']) {
    if (!existsSync(`/proc/self/ns/${ns}`)) throw new Error(`this kernel has no ${ns} namespaces (CONFIG_${ns.toUpperCase()}_NS)`);
  }
  const maxUserNs = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8'));
  if (!(maxUserNs > 0)) throw new Error('user namespaces are disabled: sysctl user.max_user_namespaces is 0');
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) throw new Error('this kernel has no overlayfs (modprobe overlay)');
}

/** A container's setup runs as an unprivileged host uid: it must be able to pass through the state
 * directory and every directory above it (a mkdtemp directory is 0700, for one). */
function checkTraversable(dir: string): void {
  for (let d = dir; ; d = join(d, '..')) {
    if ((statSync(d).mode & 0o001) === 0) {
      throw new SandboxError('host', `the state directory ${dir} cannot be used: ${d} is not searchable by others (mode ${(statSync(d).mode & 0o777).toString(8)}); containers set up as an unprivileged user pass through it (chmod o+x ${d})`);
    }
    if (d === '/') return;
  }
}

/** The default state directory's cgroup parent is "corral"; another one's is its own. */
export function defaultCgroupParent(stateDir: string): string {
  const normal = stateDir.replace(/\/+$/, '') || '/';
  return normal === '/var/lib/corral' ? 'corral' : `corral-${createHash('sha256').update(normal).digest('hex').slice(0, 12)}`;
}

function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '';
  }
}

/** corral-<pid>-<start>-<n> entries whose owner is not this live process any more. */
function staleEntries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((name) => {
    const m = /^corral-(\d+)-(\d*)-\d+$/.exec(name);
    if (!m) return false;
    const start = processStartTime(Number(m[1]));
    return start === '' || (m[2] !== '0' && start !== m[2]);
  });
}

function killCgroup(dir: string): void {
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* no such cgroup any more */
  }
}

/** A run's cgroup with its leaves (v2: init/ and prog/): processes killed, leaves first. */
function removeCgroupTree(dir: string): boolean {
  let children: string[] = [];
  try {
    children = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return false;
  }
  for (const child of children) removeCgroupTree(join(dir, child));
  killCgroup(dir);
  return removeCgroup(dir);
}

function removeCgroup(dir: string): boolean {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      rmdirSync(dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // tasks are still exiting
    }
  }
  throw new Error(`sweep: cgroup ${dir} stays busy`);
}

/** A dead owner's proc-view: its daemon (if its pid file still names one serving this directory) killed, its mount detached, its directory removed. */
function sweepProcView(dir: string, mounted: Set<string>): void {
  const mnt = join(dir, 'mnt');
  try {
    const pid = Number(readFileSync(join(dir, 'daemon.pid'), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(mnt)) process.kill(pid, 'SIGKILL');
  } catch {
    /* no pid file, or the daemon is gone */
  }
  if (mounted.has(mnt)) loadNative().volumeUmountSync(mnt);
  rmSync(join(dir, 'daemon.pid'), { force: true });
  tryRmdir(mnt);
  tryRmdir(dir);
}

function tryRmdir(dir: string): void {
  try {
    if (statSync(dir).isDirectory()) rmdirSync(dir);
  } catch {
    /* absent */
  }
}

export function mountPoints(): Set<string> {
  const set = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[4]) set.add(fields[4].replace(/\\040/g, ' '));
  }
  return set;
}
