// The daemon behind a truthful /proc: a FUSE filesystem whose mount holds proc/<file> views that
// containers bind over their own /proc/<file> (native/src/mount.c, spec.proc_view_dir). Two
// daemons serve that layout: Corral's own native/build/corral-procview (the default: it answers
// with the reader's cgroup) and Debian's lxcfs (answers with the reader's pid-namespace init's
// cgroup, which in Corral is not the run's; kept for comparison). Started and stopped by Corral itself, like the embedded Redis
// (services/core/redis.ts): its own directory under the state dir, a pid file, a leftover of a
// dead owner stopped first, the mount checked to really answer before anyone uses it.
//
// Fail closed: a dead daemon's mount answers ENOTCONN, so a container reads an error, never the
// host's values; healthy() is false from the moment the daemon is seen dead or its files stop
// answering until a restarted daemon's files answer again, and no run may start in between.
// Containers built before a restart keep binds to the dead connection (a FUSE connection cannot
// be re-attached): `generation` counts (re)starts so a pool can drop what an older one served.
// docs/sandbox.md, "A truthful /proc", says why and what the views are still missing.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Corral's own view daemon, built by `make -C native` where libfuse3-dev is installed. */
export const PROCVIEW_BIN = join(dirname(fileURLToPath(import.meta.url)), '../../native/build/corral-procview');

export type ProcViewDaemon = 'corral-procview' | 'lxcfs';

/** Why the default daemon cannot run here (not built, no FUSE device), or undefined when it can. */
export function procViewAvailable(): string | undefined {
  if (!existsSync(PROCVIEW_BIN)) return `${PROCVIEW_BIN} is not built (it needs libfuse3-dev: apt-get install libfuse3-dev, then npm run build:native)`;
  if (!existsSync('/dev/fuse')) return 'this host has no /dev/fuse';
  return undefined;
}

/** The files bound over the container's /proc, each `<mountDir>/proc/<name>`. */
export const PROC_VIEW_FILES = ['meminfo', 'cpuinfo', 'stat', 'uptime', 'loadavg', 'swaps', 'diskstats'] as const;

export interface ProcViewOptions {
  /** Directory of its own (created 0755: a container's setup must traverse it to reach the mount). */
  dir: string;
  /** Which daemon. Default corral-procview. */
  daemon?: ProcViewDaemon;
  /** Its executable. Default PROCVIEW_BIN for corral-procview, `lxcfs` (on PATH) for lxcfs. */
  bin?: string;
  /** Time between two checks that the mount still answers. Default 1000. */
  checkIntervalMs?: number;
  /** A check whose read takes longer than this counts as a hung daemon (killed, restarted). Default 2000. */
  checkTimeoutMs?: number;
  /** First wait before a restart, doubled on each failed start up to 5 s. Default 100. */
  restartDelayMs?: number;
  /** Where each daemon it starts is put at once, so its work for readers is capped (DaemonCgroup);
   * a daemon that cannot be put there is stopped and the start fails. Absent: the worker's cgroup. */
  cgroup?: { add(pid: number): void };
  /** Told of every change: `serving` (with the daemon's pid), `down` (with the reason). */
  onChange?: (event: ProcViewEvent) => void;
}

export type ProcViewEvent =
  | { state: 'serving'; pid: number; generation: number }
  | { state: 'down'; reason: string };

const START_TIMEOUT_MS = 5000;
const MAX_RESTART_DELAY_MS = 5000;
const STOP_TIMEOUT_MS = 5000;
const execFileAsync = promisify(execFile);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The filesystem type of the topmost mount at `dir` in our mount namespace, or undefined. */
export function mountedFsType(dir: string): string | undefined {
  let type: string | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [fields, rest] = line.split(' - ');
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    const point = fields?.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (point === dir) type = rest?.split(' ')[0];
  }
  return type;
}

/** A live process (a zombie is dead: it only waits for its parent to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A read through the view, bounded by `timeoutMs` (the read itself may stay blocked until the daemon dies). */
async function readBounded(path: string, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([readFile(path, 'utf8'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class ProcView {
  /** The directory containers bind from: `<dir>/mnt`, whose `proc/<file>` are the views. */
  readonly mountDir: string;
  readonly pidFile: string;
  private child: ChildProcess | undefined;
  private serving = false;
  private closing = false;
  private gen = 0;
  private stderr = '';
  private timer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private checking = false;

  private constructor(private readonly opts: ProcViewOptions) {
    this.mountDir = join(opts.dir, 'mnt');
    this.pidFile = join(opts.dir, 'daemon.pid');
  }

  /** Starts the daemon and resolves once every view answers; rejects (leaving nothing) when it cannot. */
  static async start(opts: ProcViewOptions): Promise<ProcView> {
    const view = new ProcView(opts);
    await mkdir(view.mountDir, { recursive: true, mode: 0o755 });
    await view.stopLeftover();
    try {
      await view.launch();
    } catch (err) {
      await view.close();
      throw err;
    }
    view.timer = setInterval(() => void view.check(), opts.checkIntervalMs ?? 1000);
    view.timer.unref();
    return view;
  }

  /** True while the views answer: a run may bind them. False: no run may start. */
  healthy(): boolean {
    return this.serving && !this.closing;
  }

  /** Counts the daemon's (re)starts; a container built under an older one has dead views. */
  get generation(): number {
    return this.gen;
  }

  /** The daemon's pid while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    // A dead daemon's mount stays behind (answering ENOTCONN); a new one cannot mount over it.
    await this.unmount();
    const lxcfs = this.opts.daemon === 'lxcfs';
    const bin = this.opts.bin ?? (lxcfs ? 'lxcfs' : PROCVIEW_BIN);
    // -f: stays our child, so its death is an 'exit' event. lxcfs: --enable-cfs counts CPUs from
    // the CFS quota, -l serves loadavg, --enable-pidfd avoids pid reuse races, -p its pid file.
    // corral-procview: allow_other, so the containers' users may read it.
    const args = lxcfs
      ? ['-f', '--enable-cfs', '--enable-pidfd', '-l', '-p', this.pidFile, this.mountDir]
      : ['-f', '-o', 'allow_other', this.mountDir];
    // Its own session (detached): a signal to the worker's process group — systemd's stop, a
    // terminal's ^C — must not take the view from runs still finishing in the grace period. The
    // worker stops it by pid at close; a killed worker's is swept by the next start (pid file).
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.child = child;
    // Into its capped cgroup before it serves anyone (all its threads move with it).
    if (this.opts.cgroup && child.pid) {
      try {
        this.opts.cgroup.add(child.pid);
      } catch (err) {
        child.kill('SIGKILL');
        throw new Error(`proc view: cannot put ${bin} in its cgroup: ${(err as Error).message}`);
      }
    }
    this.stderr = '';
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    // The pid file lets the next start find a daemon this worker leaves behind if it is killed.
    if (!lxcfs && child.pid) await writeFile(this.pidFile, `${child.pid}\n`);
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) =>
      reject(new Error(`proc view: ${bin} exited at start (${signal ?? `exit ${code}`}): ${this.lastStderrLine()}`))));
    const spawnError = new Promise<never>((_, reject) => child.once('error', (e) =>
      reject(new Error(`proc view: cannot start ${bin}: ${e.message}`))));
    exited.catch(() => {});
    spawnError.catch(() => {});
    await Promise.race([this.waitServed(child), exited, spawnError]);
    child.on('exit', (code, signal) => this.lost(child, `daemon ${child.pid} exited (${signal ?? `exit ${code}`})`));
    this.gen++;
    this.serving = true;
    this.opts.onChange?.({ state: 'serving', pid: child.pid!, generation: this.gen });
  }

  private lastStderrLine(): string {
    return this.stderr.trim().split('\n').filter((l) => /error|fail|cannot|fuse:/i.test(l)).pop() ?? (this.stderr.trim().split('\n').pop() || 'no output');
  }

  /** Every view must be a file of the daemon's mount that answers with content. */
  private async waitServed(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = 'not mounted';
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (mountedFsType(this.mountDir)?.startsWith('fuse')) {
        try {
          for (const name of PROC_VIEW_FILES) {
            const text = await readBounded(join(this.mountDir, 'proc', name), this.opts.checkTimeoutMs ?? 2000);
            // swaps and diskstats may be a header or empty; the others are never empty.
            if (!text && name !== 'diskstats') throw new Error(`proc/${name} is empty`);
          }
          if (!(await readFile(join(this.mountDir, 'proc', 'meminfo'), 'utf8')).startsWith('MemTotal:')) throw new Error('proc/meminfo has no MemTotal');
          return;
        } catch (err) {
          last = (err as Error).message;
        }
      }
      await sleep(20);
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw new Error(`proc view: ${this.mountDir} is not served (${last}): ${this.lastStderrLine()}`);
  }

  /** The daemon died or stopped answering: unhealthy now, a new one after a pause. */
  private lost(child: ChildProcess, reason: string): void {
    if (child !== this.child || this.closing) return;
    if (this.serving) {
      this.serving = false;
      this.opts.onChange?.({ state: 'down', reason });
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    this.restarting ??= this.restart().finally(() => { this.restarting = undefined; });
  }

  private async restart(): Promise<void> {
    let delayMs = this.opts.restartDelayMs ?? 100;
    for (;;) {
      // The old daemon must be gone before its mount is replaced.
      const old = this.child;
      while (old && old.exitCode === null && old.signalCode === null) await sleep(10);
      await sleep(delayMs);
      if (this.closing) return;
      try {
        await this.launch();
        return;
      } catch (err) {
        this.opts.onChange?.({ state: 'down', reason: (err as Error).message });
        delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS);
      }
    }
  }

  /** A daemon can be alive and hung, or its mount gone (unmounted by hand): read a view. */
  private async check(): Promise<void> {
    const child = this.child;
    if (!this.serving || this.checking || !child) return;
    this.checking = true;
    try {
      await readBounded(join(this.mountDir, 'proc', 'uptime'), this.opts.checkTimeoutMs ?? 2000);
      if (!mountedFsType(this.mountDir)?.startsWith('fuse')) throw new Error('not mounted');
    } catch (err) {
      // Killing the daemon also fails its pending requests, which frees a thread stuck in a read.
      this.lost(child, `views do not answer: ${(err as Error).message}`);
    } finally {
      this.checking = false;
    }
  }

  /**
   * A daemon left running by a worker that was SIGKILLed still serves this directory: kill it
   * (only if its pid file names a live process whose command line names our mount), then unmount.
   */
  private async stopLeftover(): Promise<void> {
    const pid = Number((await readFile(this.pidFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== this.child?.pid) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (cmdline.includes(this.mountDir)) {
        process.kill(pid, 'SIGKILL');
        for (let waitedMs = 0; alive(pid) && waitedMs < STOP_TIMEOUT_MS; waitedMs += 25) await sleep(25);
      }
    }
    await this.unmount();
  }

  /** Lazily unmounts whatever is mounted on mountDir (a dead or leftover daemon's FUSE mount). */
  private async unmount(): Promise<void> {
    // Mounts can be stacked (a leftover's under a dead one's): one umount each.
    for (let i = 0; i < 8 && mountedFsType(this.mountDir) !== undefined; i++) {
      await execFileAsync('umount', ['-l', this.mountDir]).catch((err: Error) => {
        throw new Error(`proc view: cannot unmount ${this.mountDir}: ${err.message}`);
      });
    }
  }

  /** Stops the daemon and removes its mount and pid file; healthy() is false from here on. */
  async close(): Promise<void> {
    this.closing = true;
    this.serving = false;
    clearInterval(this.timer);
    await this.restarting;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // SIGKILL, not SIGTERM: lxcfs with its loadavg thread (-l) ignores SIGTERM, and without it
      // takes over a second to go; it keeps no state, and the unmount below is ours anyway.
      child.kill('SIGKILL');
      await exited;
    }
    await this.unmount();
    await rm(this.pidFile, { force: true });
  }
}
