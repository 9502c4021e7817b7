// A worker's warm pool of started kernels (CORRAL_SESSION_WARM_KERNELS per language that has a
// kernel): containers with the bridge and a kernel already started, each with its own empty /box
// volume, waiting for a session to take one. Single-use, like the sandbox's run pool: a kernel a
// session took is that session's for life and never comes back.
//
// Limits: a warm kernel is started with the default session limits (memory, CPU bandwidth, tasks,
// disk, CPU budget) and only a session that asks for exactly those takes one. The alternative,
// changing the cgroup at take time, cannot change the disk (the /box and /tmp sizes are fixed when
// the container is made) and would need a new door into a running container; a session with
// limits of its own starts cold, as before. Its wall limit covers the longest lifetime a session
// may have plus the time the kernel may wait here (CORRAL_SESSION_WARM_MAX_AGE_S, after which it is
// replaced); the session's own timers (idle, lifetime) start when it is taken.
//
// Slots: warm kernels are containers like a session's, so they count against the worker's session
// slots: held sessions + warm kernels ≤ CORRAL_SESSION_SLOTS. The pool only fills the room held
// sessions leave; a session that cannot use a warm kernel (other limits) evicts one when the
// slots are all in use. Refilled in the background, one start at a time, backing off after a
// failed start (an image not built, a sandbox that fails); closed with the worker.
import type { Logger } from '../../services/core/logger.ts';
import type { SessionJob } from '../../services/core/session-protocol.ts';
import type { JobVolume, Launcher } from '../launcher.ts';
import type { ResolvedLanguage } from '../language-registry.ts';
import { newMessage, parentMsgId } from './jupyter-messages.ts';
import { KernelChannel } from './kernel-channel.ts';
import type { KernelSpec } from './kernels.ts';

export interface WarmKernel {
  language: string;
  volume: JobVolume;
  channel: KernelChannel;
}

export interface WarmKernelsOptions {
  /** Warm kernels per language (0: the pool is off). */
  perLanguage: number;
  /** Languages with a kernel (kernels.ts). */
  languages: string[];
  /** A ready kernel nobody took within this long is replaced. */
  maxAgeMs: number;
  /** Kernel containers the pool may hold now: the worker's slots minus its held sessions. */
  room(): number;
  /** Starts a container with the default session limits and an empty /box (the kernel may still be starting). */
  start(language: string): Promise<{ volume: JobVolume; channel: KernelChannel }>;
  /** How long after a take the next kernel's start waits (default REFILL_AFTER_TAKE_MS). */
  refillAfterTakeMs?: number;
  log: Logger;
}

/**
 * After a take, the next kernel's start waits this long. A kernel start is about a second of CPU
 * (the container, Python, ipykernel's imports); begun at the take, it ran beside the taking
 * session's first cells and, on the 2-core machine, made them the slowest of the session: the
 * first `1+1` after a take took 18–48 ms on the worker with the refill started at once, 9–16 ms
 * without it (bench:session's warm start, load 2–4; docs/sessions.md). A second session within
 * this delay and the start after it starts cold, as it would while the pool refills anyway.
 */
export const REFILL_AFTER_TAKE_MS = 1_000;

interface Entry {
  language: string;
  startedAt: number;
  /** Settles when the start has returned (kernel set, or failed). */
  started?: Promise<void>;
  kernel?: WarmKernel;
  ready: boolean;
  taken: boolean;
  /** Set when the pool ends it (evicted, too old, closing): it is being cleaned up. */
  retired: boolean;
}

const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 5 * 60_000;

export class WarmKernels {
  private readonly entries = new Set<Entry>();
  private readonly cleanups = new Set<Promise<void>>();
  private starting = false;
  private closed = false;
  private backoffMs = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  private readonly ageTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: WarmKernelsOptions) {
    if (options.perLanguage > 0) {
      this.ageTimer = setInterval(() => this.retireOld(), Math.max(1_000, Math.min(60_000, Math.floor(options.maxAgeMs / 4))));
      this.ageTimer.unref();
    }
  }

  /** Containers the pool holds now (ready and starting). */
  get size(): number {
    return this.entries.size;
  }

  /** Ready kernels per language (for tests and logs). */
  readyCount(language: string): number {
    let n = 0;
    for (const e of this.entries) if (e.language === language && this.isReady(e)) n++;
    return n;
  }

  /**
   * A warm kernel of `language` for a session to own, or undefined: a ready one first, else one
   * still starting (its `channel.ready` is pending — still ahead of a cold start).
   */
  take(language: string): WarmKernel | undefined {
    let pick: Entry | undefined;
    for (const e of this.entries) {
      if (e.language !== language || !e.kernel || e.kernel.channel.isClosed) continue;
      if (!pick || (!this.isReady(pick) && this.isReady(e))) pick = e;
    }
    if (!pick) return undefined;
    pick.taken = true;
    this.entries.delete(pick);
    this.refillAfterTake();
    return pick.kernel;
  }

  /** Refills once REFILL_AFTER_TAKE_MS have passed (the taking session's first cells run meanwhile). */
  private refillAfterTake(): void {
    if (this.closed || this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, this.options.refillAfterTakeMs ?? REFILL_AFTER_TAKE_MS);
    this.refillTimer.unref();
  }

  /** Ends one warm kernel (the newest) to free its slot; false when the pool holds none. */
  async evict(): Promise<boolean> {
    const victim = [...this.entries].pop();
    if (!victim) return false;
    await this.retire(victim);
    return true;
  }

  /** Starts kernels while there is room and the pool is short of its size (one at a time). */
  refill(): void {
    if (this.closed || this.starting || this.backoffTimer || this.options.perLanguage === 0) return;
    const language = this.options.languages.find((l) => this.countOf(l) < this.options.perLanguage);
    if (!language || this.entries.size >= this.options.room()) return;
    this.starting = true;
    const entry: Entry = { language, startedAt: Date.now(), taken: false, retired: false, ready: false };
    this.entries.add(entry);
    const next = () => {
      this.starting = false;
      this.refill();
    };
    entry.started = this.options.start(language).then(
      (kernel) => {
        entry.kernel = { language, ...kernel };
        void kernel.channel.closed.then(() => this.onClosed(entry));
        if (this.closed || entry.retired) {
          void this.cleanup(entry);
          return next();
        }
        // The next start waits for this kernel's: starts are CPU-heavy (about a second each).
        void kernel.channel.ready.then(() => warmUp(kernel.channel)).then(() => {
          entry.ready = true;
          this.backoffMs = 0;
          this.options.log.debug({ language, ms: Date.now() - entry.startedAt }, 'warm kernel ready');
        }, () => { /* onClosed has it */ }).finally(next);
      },
      (err: Error) => {
        this.entries.delete(entry);
        this.failed(language, err);
        next();
      },
    );
  }

  /** Ends every warm kernel and waits until their containers and volumes are gone. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.ageTimer);
    clearTimeout(this.backoffTimer);
    clearTimeout(this.refillTimer);
    await Promise.all([...this.entries].map((e) => this.retire(e)));
    while (this.cleanups.size) await Promise.all([...this.cleanups]);
  }

  // -- internals -----------------------------------------------------------------------------

  private isReady(e: Entry): boolean {
    return e.ready && !!e.kernel && !e.kernel.channel.isClosed;
  }

  private countOf(language: string): number {
    let n = 0;
    for (const e of this.entries) if (e.language === language) n++;
    return n;
  }

  private onClosed(entry: Entry): void {
    if (entry.taken) return; // the session owns it now
    const wasHeld = this.entries.delete(entry);
    void this.cleanup(entry);
    if (wasHeld && !entry.retired && !this.closed) {
      this.failed(entry.language, new Error('the warm kernel\'s container ended before a session took it'));
    }
  }

  private failed(language: string, err: Error): void {
    if (this.closed) return;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
    this.options.log.warn({ language, err: err.message, retryInMs: this.backoffMs }, 'warm kernel failed to start');
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.refill();
    }, this.backoffMs);
    this.backoffTimer.unref();
  }

  private retireOld(): void {
    const now = Date.now();
    for (const e of [...this.entries]) {
      if (e.kernel && now - e.startedAt > this.options.maxAgeMs) void this.retire(e).then(() => this.refill());
    }
  }

  private async retire(entry: Entry): Promise<void> {
    entry.retired = true;
    this.entries.delete(entry);
    await entry.started; // a starting one is cleaned up once its start has returned
    await this.cleanup(entry);
  }

  /** Closes the entry's channel and destroys its volume (once; a starting entry is cleaned when its start returns). */
  private cleanup(entry: Entry): Promise<void> {
    const k = entry.kernel;
    if (!k || entry.taken) return Promise.resolve();
    const p = (async () => {
      try {
        await k.channel.close();
        await k.volume.destroy();
      } catch (err) {
        this.options.log.error({ err: (err as Error).message }, 'warm kernel cleanup failed');
      }
    })();
    entry.taken = true; // nobody takes or cleans it again
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
    return p;
  }
}

const MiB = 1024 * 1024;
/** A warm-up that does not answer within this long is given up (the kernel is still usable). */
const WARM_UP_TIMEOUT_MS = 10_000;
/**
 * Run once, silently, in a started kernel before a session takes it: a kernel's first cell pays
 * for IPython's lazy set-up (the compiler, the display formatters' imports), two to three times
 * a later cell's time. Silent: no execute_input, no output, no history, the execution count
 * stays at 0 — the session's first cell is still `[1]`.
 */
const WARM_UP_CODE = 'get_ipython().display_formatter.format(0)';

/** Runs WARM_UP_CODE and resolves on its execute_reply (or the timeout, or the channel's close). */
export function warmUp(channel: KernelChannel): Promise<void> {
  return new Promise((resolve) => {
    const request = newMessage('execute_request', {
      code: WARM_UP_CODE, silent: true, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: false,
    }, channel.session);
    let unsubscribe = () => {};
    let unwatch = () => {};
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      unwatch();
      resolve();
    };
    const timer = setTimeout(done, WARM_UP_TIMEOUT_MS);
    unsubscribe = channel.subscribe((frame) => {
      if (frame.kind === 'message' && frame.ch === 'shell' && parentMsgId(frame.msg) === request.header.msg_id) done();
    });
    unwatch = channel.onClose(done);
    try {
      channel.send('shell', request);
    } catch {
      done();
    }
  });
}

export interface KernelContainerOptions {
  sandbox: Pick<Launcher, 'stream'>;
  language: ResolvedLanguage;
  kernel: KernelSpec;
  limits: SessionJob['limits'];
  /** The container's wall limit: the session's lifetime and a backstop (plus, warm, its wait). */
  wallMs: number;
  box: { dir: string };
  startTimeoutMs: number;
}

/** The kernel bridge and a kernel in a new container with a session's limits (cold or warm). */
export function openKernelChannel(o: KernelContainerOptions): KernelChannel {
  return new KernelChannel({
    layers: o.language.layers,
    imageName: o.language.id,
    env: { ...o.kernel.baseEnv, ...o.language.env },
    box: o.box,
    limits: {
      memoryBytes: o.limits.memoryMb * MiB,
      cpuMs: o.limits.cpuS * 1000,
      cpus: o.limits.cpus,
      processes: o.limits.processes,
      diskBytes: o.limits.diskMb * MiB,
      wallMs: o.wallMs,
    },
    ...(o.kernel.kernelArgv ? { kernelArgv: o.kernel.kernelArgv } : {}),
    startTimeoutMs: o.startTimeoutMs,
    stream: (spec, options) => o.sandbox.stream(spec, options),
  });
}

/** Whether a session asks for exactly the limits warm kernels are started with. */
export function sameLimits(a: SessionJob['limits'], b: SessionJob['limits']): boolean {
  return a.memoryMb === b.memoryMb && a.cpuS === b.cpuS && a.cpus === b.cpus && a.processes === b.processes && a.diskMb === b.diskMb;
}
