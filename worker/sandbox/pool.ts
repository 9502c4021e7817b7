// The warm pool: containers built ahead of need — namespaces, the program's process already in
// its cgroup, network namespace with lo up, overlay root, /proc, /dev — so that a run only
// sends its job (volume, stdin, limits, argv) and execve()s. Each container serves exactly one
// run and is then destroyed in the background; nothing of one run can reach another.
//
// Sizing follows demand per image (per key: layers, hostname, disk size): by Little's law the
// containers a key needs warm are its arrival rate × its run time, with headroom (at least two
// while it is in demand); a key nobody asked for recently gets none. A total budget bounds what the pool holds; when a key's queue is
// empty the run takes the cold path, transparently.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative, type NativeContainer, type NativeSpec } from './native.ts';

export interface WarmPoolOptions {
  /** Most containers held warm across all images. Default 8. */
  maxWarm?: number;
  /** Most containers warm for one image. Default 8. */
  maxPerImage?: number;
  /** Builds running at once (each takes a libuv thread for ~1-3 ms, longer when its cgroup
   * attach waits for an RCU grace period). Default 4. */
  maxBuilding?: number;
  /** Demand window: arrivals within it set the rate. Default 30 s. */
  windowMs?: number;
  /** Builds a container (default: the native launcher's prepare); tests give their own. */
  prepare?: (spec: NativeSpec) => Promise<NativeContainer>;
  /** Monotonic milliseconds for build times and hand-offs (default performance.now); tests give
   * their own, so a busy machine cannot move a "just started" build past half a build time. */
  clock?: () => number;
}

export interface WarmPoolStats {
  image: string;
  warm: number;
  building: number;
  target: number;
  hits: number;
  misses: number;
  /** Misses that took a container whose build was under way instead of building one cold. */
  handoffs: number;
  builds: number;
  buildErrors: number;
  buildMsAvg: number;
  lastError?: string;
}

interface Entry {
  key: string;
  image: string;
  template: NativeSpec;
  ready: NativeContainer[];
  /** When each build under way started (the pool's clock), oldest first: one per build. */
  buildStarts: number[];
  /** Runs that missed and wait for a build under way, first come first served. */
  waiters: Array<(container: NativeContainer | undefined) => void>;
  /** When the last take() found nothing warm (the pool's clock). */
  missedAt: number;
  handoffs: number;
  arrivals: number[];
  runSecondsAvg: number;
  hits: number;
  misses: number;
  builds: number;
  buildErrors: number;
  buildMsTotal: number;
  lastError?: string;
  backoffUntil: number;
}

const keyOf = (s: NativeSpec) => `${s.lowerdirs}|${s.hostname}|${s.disk_bytes}|${s.cgroup_version}`;

/** Containers built at once by default (each holds a thread-pool thread while it is built). */
export const POOL_MAX_BUILDING = 4;

export class WarmPool {
  private readonly entries = new Map<string, Entry>();
  private readonly timer: NodeJS.Timeout;
  private readonly maxWarm: number;
  private readonly maxPerImage: number;
  private readonly maxBuilding: number;
  private readonly clock: () => number;
  private readonly windowMs: number;
  private readonly prepare: (spec: NativeSpec) => Promise<NativeContainer>;
  private closed = false;

  constructor(
    private readonly nextName: () => string,
    private readonly discard: (container: NativeContainer) => void,
    options: WarmPoolOptions = {},
    /** Schedules the refill after a run (SandboxHost.afterRun: not on the way of its result). */
    private readonly afterRun: (work: () => void) => void = setImmediate,
  ) {
    this.maxWarm = options.maxWarm ?? 8;
    this.maxPerImage = options.maxPerImage ?? 8;
    this.maxBuilding = options.maxBuilding ?? POOL_MAX_BUILDING;
    this.windowMs = options.windowMs ?? 30_000;
    this.prepare = options.prepare ?? ((spec) => loadNative().prepare(spec));
    this.clock = options.clock ?? (() => performance.now());
    this.timer = setInterval(() => this.rebalance(), 1000);
    this.timer.unref();
  }

  /** A warm container for this spec's image, or undefined (the caller goes cold). */
  take(spec: NativeSpec, image = imageLabel(spec)): NativeContainer | undefined {
    if (this.closed) return undefined;
    const entry = this.entryFor(spec, image);
    entry.arrivals.push(Date.now());
    const container = entry.ready.shift();
    if (container) entry.hits++;
    else {
      entry.misses++;
      entry.missedAt = this.clock();
    }
    // While another container of this image is warm, the refill waits for this run's end
    // (recordRun): a build started now would compete with this run for the CPUs (2 here).
    if (entry.ready.length === 0) this.refill();
    return container;
  }

  /**
   * Right after a take() that found nothing warm: the next container of this image to finish
   * building, when a build not promised to another run yet was under way before that miss and
   * for at least half the average build time, else undefined (the caller builds one cold, in
   * parallel with the pool's builds; builds the miss itself started are no sooner than that). A
   * build halfway done is ready sooner than one started now, and a run taking it costs no extra
   * CPU on a busy host. Resolves undefined if that build fails (the caller then goes cold).
   */
  awaitBuilding(spec: NativeSpec): Promise<NativeContainer | undefined> | undefined {
    const entry = this.entries.get(keyOf(spec));
    if (this.closed || !entry) return undefined;
    const started = entry.buildStarts[entry.waiters.length]; // the oldest build not promised yet
    if (started === undefined || started >= entry.missedAt || entry.missedAt - started < buildMsAvg(entry) / 2) return undefined;
    return new Promise((resolve) => entry.waiters.push(resolve)).then((container) => {
      if (container) entry.handoffs++;
      return container as NativeContainer | undefined;
    });
  }

  /** Feeds the run time into the sizing, and refills what the run used. */
  recordRun(spec: NativeSpec, wallMs: number): void {
    const entry = this.entries.get(keyOf(spec));
    if (entry) entry.runSecondsAvg = entry.runSecondsAvg * 0.8 + (wallMs / 1000) * 0.2;
    this.afterRun(() => this.refill());
  }

  /** How many containers this image should have warm now. */
  private targetOf(entry: Entry, now = Date.now()): number {
    // Arrivals are in time order: drop the expired ones from the front, count the last second
    // from the back (this runs on every take, with up to rate × window entries).
    const expired = entry.arrivals.findIndex((t) => now - t < this.windowMs);
    entry.arrivals.splice(0, expired === -1 ? entry.arrivals.length : expired);
    if (entry.arrivals.length === 0) return 0;
    // The busiest of the last 100 ms, the last second and the whole window: the target rises
    // within 100 ms of a burst and falls back slowly. (With the last second alone, a step from
    // idle to 300 runs/s took a second to be seen, and most of that second's runs went cold.)
    let lastSecond = 0;
    let last100ms = 0;
    while (lastSecond < entry.arrivals.length) {
      const age = now - entry.arrivals[entry.arrivals.length - 1 - lastSecond]!;
      if (age >= 1000) break;
      if (age < 100) last100ms++;
      lastSecond++;
    }
    const ratePerSecond = Math.max(last100ms * 10, lastSecond, entry.arrivals.length / (this.windowMs / 1000));
    // A taken container is replaced only after its run and a build: both count as in use.
    const inFlight = ratePerSecond * (Math.max(entry.runSecondsAvg, 0.005) + buildMsAvg(entry) / 1000);
    // At least two while in demand: a build can take longer than the gap to the next request
    // (the cgroup attach alone waits 10-16 ms for an RCU grace period on an idle v1 host).
    return Math.min(this.maxPerImage, Math.max(2, Math.ceil(inFlight * 2)));
  }

  private get warmTotal(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.ready.length + e.buildStarts.length;
    return n;
  }

  private refill(): void {
    if (this.closed) return;
    let building = 0;
    for (const e of this.entries.values()) building += e.buildStarts.length;
    // Busiest images first, so the budget goes where the demand is.
    const byDemand = [...this.entries.values()].sort((a, b) => b.arrivals.length - a.arrivals.length);
    for (const entry of byDemand) {
      while (
        building < this.maxBuilding &&
        entry.ready.length + entry.buildStarts.length < this.targetOf(entry) &&
        Date.now() >= entry.backoffUntil &&
        (this.warmTotal < this.maxWarm || this.evictForDemand(entry, byDemand))
      ) {
        building++;
        this.build(entry);
      }
    }
  }

  /** Frees a budget slot for `needy` by destroying a warm container of a less-demanded image. */
  private evictForDemand(needy: Entry, byDemand: Entry[]): boolean {
    for (let i = byDemand.length - 1; i >= 0; i--) {
      const donor = byDemand[i]!;
      if (donor === needy || donor.arrivals.length >= needy.arrivals.length || donor.ready.length === 0) continue;
      this.discard(donor.ready.shift()!);
      return true;
    }
    return false;
  }

  private build(entry: Entry): void {
    const started = this.clock();
    entry.buildStarts.push(started);
    this.prepare({ ...entry.template, name: this.nextName() })
      .then(
        (container) => {
          entry.builds++;
          entry.buildMsTotal += this.clock() - started;
          const waiter = entry.waiters.shift();
          if (waiter) waiter(container);
          else if (this.closed) this.discard(container);
          else entry.ready.push(container);
        },
        (err: Error) => {
          entry.waiters.shift()?.(undefined); // it goes cold
          entry.buildErrors++;
          entry.lastError = err.message;
          entry.backoffUntil = Date.now() + 5000; // a broken image must not spin the CPU
        },
      )
      .finally(() => {
        entry.buildStarts.splice(entry.buildStarts.indexOf(started), 1);
        this.refill();
      });
  }

  /** Drops what demand no longer justifies; builds what it does. */
  private rebalance(): void {
    for (const entry of this.entries.values()) {
      const surplus = entry.ready.length - this.targetOf(entry);
      for (let i = 0; i < surplus; i++) this.discard(entry.ready.shift()!);
    }
    this.refill();
  }

  private entryFor(spec: NativeSpec, image: string): Entry {
    const key = keyOf(spec);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        key, image, template: { ...spec, stdin_data: null, stdin_len: 0 }, ready: [], buildStarts: [], waiters: [], missedAt: 0, handoffs: 0, arrivals: [],
        runSecondsAvg: 0.01, hits: 0, misses: 0, builds: 0, buildErrors: 0, buildMsTotal: 0, backoffUntil: 0,
      };
      this.entries.set(key, entry);
    }
    return entry;
  }

  stats(): WarmPoolStats[] {
    return [...this.entries.values()].map((e) => ({
      image: e.image,
      warm: e.ready.length,
      building: e.buildStarts.length,
      target: this.targetOf(e),
      hits: e.hits,
      misses: e.misses,
      handoffs: e.handoffs,
      builds: e.builds,
      buildErrors: e.buildErrors,
      buildMsAvg: e.builds ? Math.round((e.buildMsTotal / e.builds) * 100) / 100 : 0,
      ...(e.lastError ? { lastError: e.lastError } : {}),
    }));
  }

  /** Destroys the containers held warm now (built under a state that changed, e.g. a restarted
   * proc-view daemon); the pool refills with fresh ones as demand asks. */
  drain(): void {
    for (const entry of this.entries.values()) for (const c of entry.ready.splice(0)) this.discard(c);
  }

  /** Destroys every warm container, once the builds under way have finished. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while ([...this.entries.values()].some((e) => e.buildStarts.length > 0)) await new Promise((r) => setTimeout(r, 5));
    this.drain();
  }
}

/** An image's average build time so far, ms (5 before its first build). */
function buildMsAvg(entry: Entry): number {
  return entry.builds > 0 ? entry.buildMsTotal / entry.builds : 5;
}

/** The image a layer belongs to, from the layer store's metadata (<layer>/layer.json, beside
 * its fs/), else the top layer directory's name — for metrics when the caller gave no name. */
const labels = new Map<string, string>();
function imageLabel(spec: NativeSpec): string {
  const layers = spec.lowerdirs.split(':');
  const top = layers[1] ?? layers[0]!; // [0] is the generated init layer
  let label = labels.get(top);
  if (!label) {
    try {
      label = String(JSON.parse(readFileSync(join(top, '..', 'layer.json'), 'utf8')).image ?? '');
    } catch {
      label = '';
    }
    label ||= top.split('/').filter(Boolean).slice(-2, -1)[0] ?? top;
    labels.set(top, label);
  }
  return label;
}
