// Warm job volumes: empty size-limited tmpfs volumes mounted ahead of need, one set per disk size
// in use, so a run's /box needs no mount on its way (the mount is a trip through the libuv pool:
// ~0.3 ms on a busy worker, ~1 ms on an idle one, measured with the load test's busybox echo).
// Like warm containers they are single-use: a volume is handed to one run and destroyed after it,
// never emptied and reused. A size nobody asked for within `idleMs` is let go.
import type { Volume } from './volume.ts';

export interface WarmVolumesOptions {
  /** Volumes kept mounted per disk size in demand. Default 4. */
  perSize?: number;
  /** Most disk sizes kept warm at once (the least recently wanted one makes room). Default 4. */
  maxSizes?: number;
  /** A size not asked for in this long has its volumes destroyed. Default 30 s. */
  idleMs?: number;
}

export interface WarmVolumesStats {
  ready: number;
  mounting: number;
  hits: number;
  misses: number;
  errors: number;
  lastError?: string;
}

interface SizeEntry {
  ready: Volume[];
  mounting: number;
  wantedAt: number;
}

export class WarmVolumes {
  private readonly bySize = new Map<number, SizeEntry>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly perSize: number;
  private readonly maxSizes: number;
  private readonly idleMs: number;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private hits = 0;
  private misses = 0;
  private errors = 0;
  private lastError: string | undefined;

  /** `mount`: mounts one fresh volume of that many bytes (createVolume's cold path). */
  constructor(private readonly mount: (sizeBytes: number) => Promise<Volume>, options: WarmVolumesOptions = {}) {
    this.perSize = options.perSize ?? 4;
    this.maxSizes = options.maxSizes ?? 4;
    this.idleMs = options.idleMs ?? 30_000;
    this.timer = setInterval(() => this.dropIdle(Date.now()), Math.max(1000, this.idleMs / 2));
    this.timer.unref();
  }

  /** A mounted, never used volume of this size, or undefined (the caller mounts one now). The
   * set is topped up now after a miss, else when the volume taken is destroyed: the mounts'
   * synchronous part (a few syscalls and the hand-off to the thread pool) stays off the run's way. */
  take(sizeBytes: number): Volume | undefined {
    if (this.closed || this.perSize <= 0) return undefined;
    let entry = this.bySize.get(sizeBytes);
    if (!entry) {
      if (this.bySize.size >= this.maxSizes) this.release(this.leastRecentlyWanted()!);
      entry = { ready: [], mounting: 0, wantedAt: 0 };
      this.bySize.set(sizeBytes, entry);
    }
    entry.wantedAt = Date.now();
    const volume = entry.ready.shift();
    if (!volume) {
      this.misses++;
      this.topUp(sizeBytes, entry);
      return undefined;
    }
    this.hits++;
    const wanted = entry;
    volume.onDestroy = () => { if (this.bySize.get(sizeBytes) === wanted) this.topUp(sizeBytes, wanted); };
    return volume;
  }

  /** Mounts what the size lacks. A failed mount is not retried here: the next take tries again. */
  private topUp(sizeBytes: number, entry: SizeEntry): void {
    while (!this.closed && entry.ready.length + entry.mounting < this.perSize) {
      entry.mounting++;
      const mounting = this.mount(sizeBytes).then(
        (volume) => {
          entry.mounting--;
          if (this.closed || this.bySize.get(sizeBytes) !== entry) return this.destroy(volume);
          entry.ready.push(volume);
        },
        (err: Error) => {
          entry.mounting--;
          this.errors++;
          this.lastError = err.message;
        },
      );
      this.track(mounting);
    }
  }

  private leastRecentlyWanted(): number | undefined {
    let oldest: number | undefined;
    for (const [size, e] of this.bySize) if (oldest === undefined || e.wantedAt < this.bySize.get(oldest)!.wantedAt) oldest = size;
    return oldest;
  }

  private release(sizeBytes: number): void {
    const entry = this.bySize.get(sizeBytes);
    if (!entry) return;
    this.bySize.delete(sizeBytes); // volumes still mounting for it are destroyed when they arrive
    for (const v of entry.ready.splice(0)) this.destroy(v);
  }

  private dropIdle(now: number): void {
    for (const [size, e] of this.bySize) if (now - e.wantedAt > this.idleMs) this.release(size);
  }

  private destroy(volume: Volume): void {
    this.track(volume.destroy().catch((err: Error) => { this.errors++; this.lastError = `destroy: ${err.message}`; }));
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  stats(): WarmVolumesStats {
    let ready = 0;
    let mounting = 0;
    for (const e of this.bySize.values()) {
      ready += e.ready.length;
      mounting += e.mounting;
    }
    return { ready, mounting, hits: this.hits, misses: this.misses, errors: this.errors, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  /** Destroys every warm volume and waits for mounts and unmounts in progress (on SIGTERM). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const size of [...this.bySize.keys()]) this.release(size);
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}
